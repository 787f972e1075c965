extension String {
    /// The longest prefix of whole characters that is at most `bytes` bytes of UTF-8: to cut a
    /// message to a bound without splitting a character.
    public func prefix(utf8Bytes bytes: Int) -> Substring {
        guard utf8.count > bytes else { return self[...] }
        var end = startIndex
        var used = 0
        for index in indices {
            let next = self[index].utf8.count
            guard used + next <= bytes else { break }
            used += next
            end = self.index(after: index)
        }
        return self[..<end]
    }
}
