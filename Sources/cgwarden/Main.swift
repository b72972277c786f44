import CGWardenCommands

/// The whole program is in CGWardenCommands, where it is tested.
@main
struct Main {
    static func main() {
        CGWardenCLI.main()
    }
}
