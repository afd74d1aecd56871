/// The version of Cask, in semantic versioning: the library's, the `cask` tool's (`cask --version`)
/// and the top entry of CHANGELOG.md are this one value.
public enum CaskVersion {
    /// The current release, `major.minor.patch`.
    public static let current = "0.6.0"
}
