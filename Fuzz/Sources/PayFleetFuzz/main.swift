import Foundation
import FuzzTargets

// libFuzzer provides `main`; this file only defines its callback. The target is chosen once, from
// PAYFLEET_FUZZ_TARGET (a static is initialised on first use; top-level code here never runs).

enum Selected {
    static let target: FuzzTarget = {
        guard let target = FuzzTarget.selected() else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            report("PayFleetFuzz: set PAYFLEET_FUZZ_TARGET to one of: \(names)")
            exit(2)
        }
        return target
    }()

    static func report(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func payFleetFuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let finding = Selected.target.runBlocking(input) {
        // A broken property is a crash to libFuzzer: it saves the input and stops.
        Selected.report("PayFleetFuzz finding: \(finding)")
        abort()
    }
    return 0
}
