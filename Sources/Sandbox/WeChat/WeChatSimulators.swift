extension VendorSandbox {
    /// The WeChat Pay v2 and APIv3 combine simulators.
    static func wechatSimulators(context: SandboxContext) -> [any VendorSimulator] {
        []
    }
}
