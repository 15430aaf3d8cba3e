using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Nuansa.Inference;
using Nuansa.Server;

namespace Nuansa.Tests.Server;

/// <summary>Nuansa's endpoints inside an application of the user's own, beside its routes.</summary>
public class MapNuansaTests
{
    /// <summary>A user's app on a free loopback port, started, with its services and routes; and its address.</summary>
    internal static async Task<(WebApplication App, string Address)> StartApp(Action<IServiceCollection> services, Action<WebApplication> routes)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        services(builder.Services);
        var app = builder.Build();
        routes(app);
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    [Fact]
    public async Task TheEndpointsLiveUnderAPrefixBesideTheAppsOwnRoutesWithTheKeyOnlyOnThem()
    {
        var (app, address) = await StartApp(s =>
        {
            s.AddNuansa(new ServerOptions { Models = [("sentiment", SharedFiles.Model("bert-2label"))], ApiKey = "k" });
            s.AddTextClassifier("direct", o => o.Model = SharedFiles.Model("bert-2label"));
        }, a =>
        {
            a.MapGet("/hello", ([FromKeyedServices("direct")] TextClassifier classifier) => classifier.Classify("fine").Top.Label);
            a.MapNuansa("/nuansa");
            a.MapHealthChecks("/healthz");
        });
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = new Uri(address) };

        using var direct = TextClassifier.Load(SharedFiles.Model("bert-2label"));
        Assert.Equal(direct.Classify("fine").Top.Label, await client.GetStringAsync("/hello"));
        Assert.Equal("Healthy", await client.GetStringAsync("/healthz"));
        using (var refused = await client.PostAsync("/nuansa/predict", new StringContent("""{"inputs": "fine"}""", System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        client.DefaultRequestHeaders.Authorization = new("Bearer", "k");
        using var answer = await client.PostAsync("/nuansa/predict", new StringContent("""{"inputs": "fine"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var labels = JsonNode.Parse(await answer.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(direct.Classify("fine", new ClassifyOptions { TopK = null }).Labels[0].Score, labels[0]!["score"]!.GetValue<float>(), 6);
        Assert.Contains("te_request_success", await client.GetStringAsync("/nuansa/metrics"));
        await app.StopAsync();
    }
}
