import Foundation
import FuzzTargets
import Testing

/// Replays every committed fuzz seed (`Fuzz/Corpus/<target>/`) and every reproducer of a fixed
/// finding (`Fuzz/Regressions/<target>/`) through the same entry points the fuzzers drive, without
/// libFuzzer, so each past crash and each seed keeps passing in the ordinary test run.
@Suite(.timeLimit(.minutes(5))) struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusAndRegressionsPass(_ target: FuzzTarget) async throws {
        let seeds = Self.files("Corpus", target)
        #expect(seeds.count >= 3, "Fuzz/Corpus/\(target.rawValue) should hold real-shaped seeds")
        var acceptedAsReceived = 0
        var acceptedSigned = 0
        for file in seeds + Self.files("Regressions", target) {
            let input = Array(try Data(contentsOf: file))
            do throws(FuzzFinding) {
                let outcome = try await target.run(input)
                if outcome.acceptedAsReceived { acceptedAsReceived += 1 }
                if outcome.acceptedSigned { acceptedSigned += 1 }
            } catch {
                Issue.record("\(file.lastPathComponent): \(error)")
            }
        }
        // The seeds must get past the signature check (or, for the decoders, decode), or the
        // fuzzer would only ever exercise the refusals.
        #expect(acceptedAsReceived >= 1, "no seed of \(target.rawValue) is accepted as received")
        switch target {
        case .orderRequest, .callbackRecord: break
        default: #expect(acceptedSigned >= 2, "fewer than two seeds of \(target.rawValue) verify once re-signed")
        }
    }

    @Test func targetNamesSelectTargets() {
        for target in FuzzTarget.allCases {
            #expect(FuzzTarget.selected(environment: ["PAYFLEET_FUZZ_TARGET": target.rawValue]) == target)
        }
        #expect(FuzzTarget.selected(environment: [:]) == nil)
        #expect(FuzzTarget.selected(environment: ["PAYFLEET_FUZZ_TARGET": "no-such-target"]) == nil)
    }
}
