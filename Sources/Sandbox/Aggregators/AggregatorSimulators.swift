extension VendorSandbox {
    /// The YunGouOS, 乐收赢 and storepos simulators.
    static func aggregatorSimulators(context: SandboxContext) -> [any VendorSimulator] {
        [
            YunGouOSSimulator(context: context),
            LeshouyingSimulator(context: context),
            StorePOSSimulator(context: context),
        ]
    }
}
