/// Random text for vendor ids and nonces (order numbers, prepay ids, `nonce_str`): one draw from
/// the system generator per id, stretched with SplitMix64, instead of one system call per
/// character. Nothing here is a secret: the sandbox's ids only need to be unique.
struct SandboxRandom: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` characters drawn uniformly from `alphabet` (ASCII).
    static func text(_ count: Int, from alphabet: StaticString) -> String {
        var generator = SandboxRandom()
        let size = alphabet.utf8CodeUnitCount
        return alphabet.withUTF8Buffer { characters in
            String(
                unsafeUninitializedCapacity: count,
                initializingUTF8With: { buffer in
                    for index in 0..<count {
                        buffer[index] = characters[Int(generator.next(upperBound: UInt64(size)))]
                    }
                    return count
                })
        }
    }
}
