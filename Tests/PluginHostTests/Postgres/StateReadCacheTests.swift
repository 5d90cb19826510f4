import Testing

@testable import PluginHost

/// The rules that make caching PostgreSQL state reads sound (ADR 16), on the cache alone.
struct StateReadCacheTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func remembersValuesAndAbsencesAndAppliesCommits() {
        let cache = StateReadCache()
        let miss = cache.value("p", bytes("a"))
        #expect(miss.hit == nil)
        cache.store("p", bytes("a"), bytes("1"), generation: miss.generation)
        cache.store("p", bytes("gone"), nil, generation: cache.value("p", bytes("gone")).generation)
        #expect(cache.value("p", bytes("a")).hit == .some(bytes("1")))
        #expect(cache.value("p", bytes("gone")).hit == .some(nil))  // known absent: no round trip
        #expect(cache.value("other", bytes("a")).hit == nil)  // plugins are apart
        cache.committed("p", [bytes("a"): nil, bytes("b"): bytes("2")])
        #expect(cache.value("p", bytes("a")).hit == .some(nil))
        #expect(cache.value("p", bytes("b")).hit == .some(bytes("2")))
    }

    @Test func aReadThatRacedWithACommitIsNotStored() {
        let cache = StateReadCache()
        let before = cache.value("p", bytes("k"))  // the read starts ...
        cache.committed("p", [bytes("x"): bytes("new")])  // ... a commit lands meanwhile ...
        cache.store("p", bytes("k"), bytes("old"), generation: before.generation)  // ... read result arrives
        #expect(cache.value("p", bytes("k")).hit == nil)
        let scanBefore = cache.scan("p", bytes("k"))
        cache.forget("p")
        cache.storeScan("p", bytes("k"), [(bytes("k1"), bytes("v"))], generation: scanBefore.generation)
        #expect(cache.scan("p", bytes("k")).hit == nil)
    }

    @Test func scansAreKeptCurrentAndAnswerNarrowerPrefixesAndKeys() throws {
        let cache = StateReadCache()
        let miss = cache.scan("p", bytes("co:"))
        cache.storeScan("p", bytes("co:"), [(bytes("co:a"), bytes("1")), (bytes("co:b"), bytes("2"))], generation: miss.generation)
        cache.committed("p", [bytes("co:c"): bytes("3"), bytes("co:a"): nil, bytes("other"): bytes("x")])
        let all = try #require(cache.scan("p", bytes("co:")).hit)
        #expect(all.map(\.key) == [bytes("co:b"), bytes("co:c")] && all.map(\.value) == [bytes("2"), bytes("3")])
        #expect(try #require(cache.scan("p", bytes("co:c")).hit).map(\.key) == [bytes("co:c")])
        #expect(cache.value("p", bytes("co:z")).hit == .some(nil))  // inside a cached scan: absent
        #expect(cache.scan("p", bytes("c")).hit == nil)  // wider than anything cached
    }

    @Test func forgettingAndGrowingPastTheLimitStartOver() {
        let cache = StateReadCache(limit: 3)
        for key in ["a", "b"] { cache.store("p", bytes(key), bytes("v"), generation: cache.value("p", bytes(key)).generation) }
        #expect(cache.value("p", bytes("a")).hit != nil)
        cache.forget("p")
        #expect(cache.value("p", bytes("a")).hit == nil && cache.value("p", bytes("b")).hit == nil)
        for key in ["a", "b", "c", "d"] { cache.store("p", bytes(key), bytes("v"), generation: cache.value("p", bytes(key)).generation) }
        #expect(cache.value("p", bytes("a")).hit == nil, "past the limit the cache starts over")
    }
}
