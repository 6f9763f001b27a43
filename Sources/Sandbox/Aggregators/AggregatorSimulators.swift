extension VendorSandbox {
    /// The YunGouOS, 乐收赢 and storepos simulators.
    static func aggregatorSimulators(context: SandboxContext) -> [any VendorSimulator] {
        []
    }
}
