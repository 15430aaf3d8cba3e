namespace Nuansa;

/// <summary>
/// Writes files so that a failed or interrupted write never leaves a partial file under the final name, and never
/// replaces what is not a regular file: a symbolic link is written through (its final target replaced, the link
/// kept), a character device, FIFO or socket (<c>/dev/null</c>, <c>/dev/stdout</c>, a named pipe) is written in place.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>: into a temporary file beside the target, renamed over it once complete.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = FinalTarget(path);
        switch (OutputPath.KindOf(full))
        {
            case OutputPath.Kind.Directory:
                throw new NuansaException($"{path}: is a folder, not a file.");
            case OutputPath.Kind.Special:
                using (var device = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 16))
                {
                    write(device);
                    device.Flush();
                }
                return;
        }
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temporary = Scratch.Beside(full);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            // A replaced file keeps its permissions.
            if (!OperatingSystem.IsWindows() && File.Exists(full))
                File.SetUnixFileMode(temporary, File.GetUnixFileMode(full));
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte order mark), atomically as <see cref="Write"/>.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        });

    /// <summary>
    /// Fails now, with one clear message, if <see cref="Write"/> could not write <paramref name="path"/> later: a folder
    /// in the way, a parent that is a file, a read-only file, a folder or file system that cannot be written.
    /// </summary>
    public static void CheckWritable(string path)
    {
        var full = FinalTarget(path);
        switch (OutputPath.KindOf(full))
        {
            case OutputPath.Kind.Directory:
                throw new NuansaException($"{path}: is a folder, not a file.");
            case OutputPath.Kind.Special:
                return;
            case OutputPath.Kind.File when !OperatingSystem.IsWindows() && (File.GetUnixFileMode(full) & UnixFileMode.UserWrite) == 0:
                throw new NuansaException($"{path}: the file is read-only; nothing was written.");
        }
        OutputPath.CheckCanCreateIn(Path.GetDirectoryName(full)!, path);
    }

    /// <summary>The absolute path a write lands on: a symbolic link's final target, else the path itself.</summary>
    private static string FinalTarget(string path)
    {
        var full = Path.GetFullPath(path);
        return new FileInfo(full).LinkTarget != null ? File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full : full;
    }
}

/// <summary>What is at an output path, and whether a file or folder can be created there.</summary>
internal static class OutputPath
{
    public enum Kind { Missing, File, Directory, Special }

    /// <summary>What <paramref name="full"/> is, symbolic links followed.</summary>
    public static Kind KindOf(string full)
    {
        if (Directory.Exists(full))
            return Kind.Directory;
        if (!File.Exists(full))
            return Kind.Missing;
        return IsRegularFile(full) ? Kind.File : Kind.Special;
    }

    /// <summary>
    /// Checks that <paramref name="directory"/> exists or can be made, and that files can be created in it: by the
    /// nearest existing ancestor being a folder, and by creating and removing a probe file in it.
    /// </summary>
    public static void CheckCanCreateIn(string directory, string shown)
    {
        var existing = directory;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
                throw new NuansaException($"{shown}: '{existing}' is a file, so nothing can be written under it.");
            existing = Path.GetDirectoryName(existing) ?? throw new NuansaException($"{shown}: no existing folder above it.");
        }
        var probe = Path.Combine(existing, $".nuansa-write-check-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new NuansaException($"{shown}: cannot write in '{existing}' ({e.Message.TrimEnd('.')}); nothing was written.");
        }
    }

    /// <summary>
    /// Fails now when the file system that would hold <paramref name="full"/> has less than <paramref name="bytes"/> free
    /// (<paramref name="what"/> says what needs them), instead of after the work that would fill it.
    /// </summary>
    public static void CheckSpace(string full, long bytes, string what)
    {
        var existing = full;
        while (!Directory.Exists(existing))
            existing = Path.GetDirectoryName(existing) ?? "/";
        // The mount holding the path: the drive whose root is its longest prefix.
        var drive = DriveInfo.GetDrives().Where(d => d.IsReady && IsUnder(existing, d.RootDirectory.FullName))
            .MaxBy(d => d.RootDirectory.FullName.Length);
        if (drive != null && drive.AvailableFreeSpace < bytes)
        {
            throw new NuansaException(FormattableString.Invariant(
                $"{full}: {what} needs about {bytes / 1e6:0.#} MB, and its file system ({drive.RootDirectory.FullName}) has {drive.AvailableFreeSpace / 1e6:0.#} MB free; nothing was written."));
        }
    }

    private static bool IsUnder(string path, string root) =>
        path.StartsWith(root, StringComparison.Ordinal) && (path.Length == root.Length || root.EndsWith('/') || path[root.Length] == '/');

    private static bool IsRegularFile(string full)
    {
        if (!OperatingSystem.IsLinux())
            return !full.StartsWith("/dev/", StringComparison.Ordinal);
        // statx's layout is the same on every Linux architecture: stx_mode is the 16 bits at offset 28.
        Span<byte> buffer = stackalloc byte[256];
        if (Statx(-100 /* AT_FDCWD */, full, 0, 0x1 /* STATX_TYPE */, ref buffer[0]) != 0)
            return true;  // cannot tell: treat as a file, the atomic path
        var mode = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]);
        return (mode & 0xF000) == 0x8000;  // S_IFREG
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);
}

/// <summary>
/// Names for work in progress — a file or folder being written beside its destination, a session's temporary weights —
/// that carry the writing process's id, so that whatever a killed process left is removed by the next one that
/// writes in the same place, and never mistaken for output.
/// </summary>
internal static class Scratch
{
    private const string Marker = ".nuansa-partial-";

    /// <summary>A new hidden name beside <paramref name="full"/> (same folder, so the same file system: one rename finishes the write); stale ones there are removed first.</summary>
    public static string Beside(string full)
    {
        var directory = Path.GetDirectoryName(full)!;
        Sweep(directory, $".*{Marker}*");
        return Path.Combine(directory, $".{Path.GetFileName(full)}{Marker}{Environment.ProcessId}-{Guid.NewGuid():N}");
    }

    /// <summary>A new folder name under <paramref name="parent"/> starting with <paramref name="prefix"/>; stale ones of that prefix are removed first.</summary>
    public static string Under(string parent, string prefix)
    {
        Sweep(parent, $"{prefix}{Marker}*");
        return Path.Combine(parent, $"{prefix}{Marker}{Environment.ProcessId}-{Guid.NewGuid():N}");
    }

    // Entries of a process that no longer runs. Best effort: what cannot be listed or removed is left for the next run.
    private static void Sweep(string directory, string pattern)
    {
        try
        {
            if (!Directory.Exists(directory))
                return;
            foreach (var entry in Directory.EnumerateFileSystemEntries(directory, pattern))
            {
                var name = Path.GetFileName(entry);
                var at = name.LastIndexOf(Marker, StringComparison.Ordinal) + Marker.Length;
                var dash = name.IndexOf('-', at);
                if (dash < 0 || !int.TryParse(name.AsSpan(at, dash - at), System.Globalization.CultureInfo.InvariantCulture, out var pid) || Alive(pid))
                    continue;
                if (Directory.Exists(entry))
                    Directory.Delete(entry, recursive: true);
                else
                    File.Delete(entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static bool Alive(int pid)
    {
        if (pid == Environment.ProcessId)
            return true;
        if (OperatingSystem.IsLinux())
            return Directory.Exists($"/proc/{pid}");
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>Creates an output folder that appears complete or not at all; an existing non-empty folder is never written into.</summary>
public static class AtomicFolder
{
    /// <summary>
    /// Runs <paramref name="fill"/> on a hidden folder beside <paramref name="destination"/> (the same file system), then
    /// renames it to the destination in one step. On any failure — a full disk, an error in <paramref name="fill"/> —
    /// the hidden folder is removed and the destination is as it was.
    /// </summary>
    public static void Write(string destination, Action<string> fill)
    {
        var full = Path.GetFullPath(destination.TrimEnd('/', '\\'));
        CheckWritable(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var staging = Scratch.Beside(full);
        Directory.CreateDirectory(staging);
        try
        {
            fill(staging);
            CheckFree(full, destination);
            if (Directory.Exists(full))
                Directory.Delete(full);
            Directory.Move(staging, full);
        }
        catch (IOException e) when (!Directory.Exists(full))
        {
            throw new NuansaException($"{destination}: {e.Message.TrimEnd('.')}; nothing was written.");
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// Fails now, with one clear message, if <see cref="Write"/> could not create <paramref name="destination"/> later:
    /// a file in the way, a non-empty folder, a parent that is a file, a place that cannot be written.
    /// </summary>
    public static void CheckWritable(string destination)
    {
        var full = Path.GetFullPath(destination);
        CheckFree(full, destination);
        OutputPath.CheckCanCreateIn(Path.GetDirectoryName(full)!, destination);
    }

    private static void CheckFree(string full, string shown)
    {
        if (File.Exists(full))
            throw new NuansaException($"{shown}: a file is in the way of the output folder.");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new NuansaException($"{shown}: the output folder is not empty; choose a new folder so nothing there is overwritten.");
    }
}
