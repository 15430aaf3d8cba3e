using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Nuansa.Server;

/// <summary>
/// The playground page at <c>/</c>: four static files embedded in this assembly, served with a policy that lets the
/// page talk to this server only and run no script but its own.
/// </summary>
internal static class Playground
{
    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "Playground/index.html", "text/html; charset=utf-8"),
        ("/playground.js", "Playground/playground.js", "text/javascript; charset=utf-8"),
        ("/playground.css", "Playground/playground.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "Playground/favicon.svg", "image/svg+xml"),
    ];

    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static void Map(IEndpointRouteBuilder routes)
    {
        foreach (var (path, resource, contentType) in Files)
        {
            var bytes = Read(resource);
            routes.MapGet(path, (HttpContext context) =>
            {
                // Under a prefix the page must be .../ so that its relative links reach its files and the API.
                if (path == "/" && !context.Request.Path.Value!.EndsWith('/'))
                    return Results.Redirect(context.Request.PathBase + context.Request.Path + "/" + context.Request.QueryString);
                context.Response.Headers.ContentSecurityPolicy = Policy;
                context.Response.Headers.XContentTypeOptions = "nosniff";
                context.Response.Headers.CacheControl = "no-cache";
                return Results.Bytes(bytes, contentType);
            });
        }
    }

    private static byte[] Read(string resource)
    {
        using var stream = typeof(Playground).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The playground file {resource} is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
