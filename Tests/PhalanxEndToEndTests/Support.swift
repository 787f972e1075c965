import Testing

/// Every end-to-end suite runs inside this one, one test at a time: each starts real processes,
/// and two clusters at once on a 2-core machine make every timer in them race.
@Suite(.serialized) enum EndToEnd {}

extension Sequence {
    /// `map` with an async transform, one element after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
