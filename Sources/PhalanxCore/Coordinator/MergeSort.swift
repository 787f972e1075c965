extension Array where Element: Comparable {
    /// The elements in ascending order, by a stable bottom-up merge sort.
    ///
    /// The machine's hot methods sort with this, not the standard library's `sort()`: a call to
    /// that one keeps cross-module optimization from serializing the generic method that makes it
    /// (its specialization cannot be serialized), and the shell then runs the whole method
    /// unspecialized, every dictionary access through value witnesses. `assign(now:into:)` was.
    func mergeSorted() -> [Element] {
        guard count > 1 else { return self }
        var source = self
        var target = self
        var width = 1
        while width < count {
            var start = 0
            while start < count {
                let middle = Swift.min(start + width, count)
                let end = Swift.min(start + 2 * width, count)
                var (left, right, next) = (start, middle, start)
                while left < middle || right < end {
                    if right == end || (left < middle && !(source[right] < source[left])) {
                        target[next] = source[left]
                        left += 1
                    } else {
                        target[next] = source[right]
                        right += 1
                    }
                    next += 1
                }
                start = end
            }
            swap(&source, &target)
            width *= 2
        }
        return source
    }
}
