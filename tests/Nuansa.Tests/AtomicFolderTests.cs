namespace Nuansa.Tests;

public class AtomicFolderTests
{
    [Fact]
    public void AFailedFillLeavesNeitherTheFolderNorItsStaging()
    {
        using var dir = new TempDirectory();
        string? staging = null;
        Assert.Throws<InvalidOperationException>(() => AtomicFolder.Write(dir.File("out"), s =>
        {
            staging = s;
            File.WriteAllText(Path.Combine(s, "half.txt"), "written before the failure");
            throw new InvalidOperationException("failed half way");
        }));
        Assert.False(Directory.Exists(dir.File("out")));
        Assert.False(Directory.Exists(staging));
    }

    [Fact]
    public void ANonEmptyDestinationIsRefusedBeforeAnythingIsWritten()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("keep.txt"), "mine");
        var called = false;
        Assert.Throws<NuansaException>(() => AtomicFolder.Write(dir.Path, _ => called = true));
        Assert.False(called);
        AtomicFolder.Write(dir.File("fresh"), s => File.WriteAllText(Path.Combine(s, "a.txt"), "a"));
        Assert.Equal("a", File.ReadAllText(Path.Combine(dir.File("fresh"), "a.txt")));
    }
}
