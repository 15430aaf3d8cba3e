using Nuansa.Reporting;

namespace Nuansa.Tests.Evaluation;

public class HtmlReportTests
{
    [Fact]
    public void MarkupInTheReportIsShownAsTextAndOnlyTheFoldersOwnChartsAreEmbedded()
    {
        using var dir = new TempDirectory();
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3];
        File.WriteAllBytes(dir.File("chart.png"), png);
        File.WriteAllBytes(Path.Combine(Path.GetTempPath(), "outside-" + Path.GetFileName(dir.Path) + ".png"), png);
        var markdown = "# Report <b>x</b>\n\n| label | F1 |\n| --- | --- |\n| <script>alert(1)</script> | 0.5 |\n\n" +
                       $"![chart](chart.png)\n\n![other](../outside-{Path.GetFileName(dir.Path)}.png)\n";
        var html = HtmlReport.Render(markdown, dir.Path, "T <i>");
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<title>T &lt;i&gt;</title>", html);
        Assert.Contains("<td>0.5</td>", html);
        Assert.Contains($"src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"", html);
        Assert.Contains($"src=\"../outside-{Path.GetFileName(dir.Path)}.png\"", html); // not read from outside the folder
        File.Delete(Path.Combine(Path.GetTempPath(), "outside-" + Path.GetFileName(dir.Path) + ".png"));
    }
}
