using System.Net;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Nuansa.Reporting;

/// <summary>
/// <c>report.html</c>: the Markdown report rendered as one self-contained page (charts embedded as data URIs, styles
/// inline, no script), so it opens offline and can be mailed as one file. Raw HTML in the Markdown — a label name
/// taken from a checkpoint, say — is shown as text, never interpreted.
/// </summary>
public static class HtmlReport
{
    /// <summary>The report's file name in an evaluation folder.</summary>
    public const string FileName = "report.html";

    private static readonly MarkdownPipeline Markdown = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    /// <summary>The page for <paramref name="markdown"/>, whose images are PNG files in <paramref name="folder"/>.</summary>
    public static string Render(string markdown, string folder, string title)
    {
        var document = Markdig.Markdown.Parse(markdown, Markdown);
        foreach (var image in document.Descendants<LinkInline>().Where(l => l.IsImage && l.Url != null))
        {
            // Only the report's own charts (a plain file name in the folder) are embedded; anything else stays a link.
            var path = Path.Combine(folder, image.Url!);
            if (Path.GetFileName(image.Url) == image.Url && image.Url!.EndsWith(".png", StringComparison.Ordinal) && File.Exists(path))
                image.Url = "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(path));
        }
        var body = document.ToHtml(Markdown);
        return $$"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{WebUtility.HtmlEncode(title)}}</title>
            <style>
            body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; margin: 0 auto; max-width: 60rem; padding: 1rem 1.25rem 3rem; }
            h1 { font-size: 1.5rem; margin: 1rem 0 .5rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
            table { border-collapse: collapse; margin: .5rem 0 1.25rem; display: block; overflow-x: auto; max-width: 100%; }
            th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            th:first-child, td:first-child { text-align: left; }
            thead th { background: #f6f8fa; }
            tbody tr:nth-child(even) { background: #fafbfc; }
            img { max-width: 100%; height: auto; display: block; margin: .5rem 0 1.5rem; border: 1px solid #eaeef2; }
            @media print { body { max-width: none; } img { break-inside: avoid; } }
            </style>
            </head>
            <body>
            {{body}}
            </body>
            </html>

            """;
    }
}
