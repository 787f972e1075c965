import Testing

@testable import PhalanxCore

@Suite struct MergeSortTests {
    @Test func sortsLikeTheStandardLibraryForEveryLengthUpToAFewRuns() {
        var generator = SystemRandomNumberGenerator()
        for count in 0...70 {
            let numbers = (0..<count).map { _ in Int.random(in: -5...5, using: &generator) }  // with repeats
            #expect(numbers.mergeSorted() == numbers.sorted(), "\(numbers)")
        }
        let words = ["w2", "w10", "echo", "", "Echo", "w1", "echo"]
        #expect(words.mergeSorted() == words.sorted())
        let many = (0..<10_000).map { _ in UInt64.random(in: 0...1_000, using: &generator) }
        #expect(many.mergeSorted() == many.sorted())
    }
}
