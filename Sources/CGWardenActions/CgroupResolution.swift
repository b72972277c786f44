#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSandbox
import CGWardenSystem

/// The unprivileged side's half of naming a group: its id, taken the way the
/// helper will check it (beneath the root, no symlinks, no mount crossing).
/// The helper checks again; this only gives a request its id.
public enum CgroupResolution {
    public static func target(_ path: CgroupPath, root: String,
                              fs: HelperFileSystem = LinuxHelperFileSystem()) -> Result<CgroupTarget, HelperRequestError> {
        let rootFD: Int32
        do {
            rootFD = try openPathDirectory(root)
        } catch {
            return .failure(.failed(.system(HelperStepFailure(.open, detail: "the cgroup root \(root)", errno: error.errno))))
        }
        defer { Files.close(rootFD) }
        let dir: Int32
        do {
            dir = try fs.openGroup(path, beneath: rootFD)
        } catch {
            switch HelperServer.resolutionReply(error, path: path) {
            case .refused(let r): return .failure(.refused(r))
            default: return .failure(.failed(.system(HelperStepFailure(.open, path: path, errno: error.errno))))
            }
        }
        defer { fs.close(dir) }
        do {
            let st = try fs.status(dir)
            if !st.isDirectory { return .failure(.refused(.notADirectory)) }
            return .success(CgroupTarget(path: path, id: st.inode))
        } catch {
            return .failure(.failed(.system(HelperStepFailure(.status, path: path, errno: error.errno))))
        }
    }
}
