namespace Nuansa;

/// <summary>Writes files so that a failed or interrupted write never leaves a partial file under the final name.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        });
}

/// <summary>Creates an output folder that appears complete or not at all; an existing non-empty folder is never written into.</summary>
public static class AtomicFolder
{
    /// <summary>Runs <paramref name="fill"/> on a temporary folder, then moves it to <paramref name="destination"/>.</summary>
    public static void Write(string destination, Action<string> fill)
    {
        var full = Path.GetFullPath(destination);
        CheckFree(full, destination);
        var staging = Path.Combine(Path.GetTempPath(), "nuansa-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            fill(staging);
            CheckFree(full, destination);
            if (Directory.Exists(full))
                Directory.Delete(full);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            try
            {
                Directory.Move(staging, full);
            }
            catch (IOException)
            {
                // Another file system: copy, then the staging folder is removed below.
                Directory.CreateDirectory(full);
                foreach (var file in Directory.GetFiles(staging, "*", SearchOption.AllDirectories))
                {
                    var target = Path.Combine(full, Path.GetRelativePath(staging, file));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Copy(file, target);
                }
            }
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    private static void CheckFree(string full, string shown)
    {
        if (File.Exists(full))
            throw new NuansaException($"{shown}: a file is in the way of the output folder.");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new NuansaException($"{shown}: the output folder is not empty; choose a new folder so nothing there is overwritten.");
    }
}
