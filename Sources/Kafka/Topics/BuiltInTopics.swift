extension TopicCatalog {
    /// The files of topics/ when the binary was built: (file name, YAML text), sorted by name.
    ///
    /// SwiftPM embeds `BuiltIn/topics.bundle` (written by scripts/generate-topics.sh) in the binary as
    /// bytes; each file there starts with a line `#@file <name>`.
    public static let builtInFiles: [(file: String, yaml: String)] = splitBundle(
        String(decoding: PackageResources.topics_bundle, as: UTF8.self))

    static func splitBundle(_ text: String) -> [(file: String, yaml: String)] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var files: [(file: String, yaml: String)] = []
        var current: (file: String, yaml: String)?
        for line in lines {
            if line.hasPrefix("#@file ") {
                if let finished = current { files.append(finished) }
                current = (String(line.dropFirst("#@file ".count)), "")
            } else if current != nil {
                current!.yaml += line + "\n"
            }
        }
        if let finished = current { files.append(finished) }
        return files
    }
}
