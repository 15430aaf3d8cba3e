// An ASP.NET Core app of its own that uses a classifier in its endpoints and also offers Nuansa's
// TEI-compatible API, playground and metrics under /nuansa:
//   dotnet run -- --Model <model folder or Hub id> [--urls http://127.0.0.1:5080]
using Nuansa.Inference;
using Nuansa.Server;

var builder = WebApplication.CreateBuilder(args);
var model = builder.Configuration["Model"] ?? throw new InvalidOperationException("Give the model: --Model <folder or Hub id>.");

builder.Services.AddTextClassifier("sentiment", o => o.Model = model);
builder.Services.AddHealthChecks().AddTextClassifierCheck("sentiment");
// Nuansa's endpoints run their own copy of the model behind a batching queue.
builder.Services.AddNuansa(new ServerOptions { Models = [("sentiment", model)] });

var app = builder.Build();

// The app's own endpoint: a review in, a verdict out.
app.MapGet("/review", async ([FromKeyedServices("sentiment")] TextClassifier classifier, string text, CancellationToken cancellationToken) =>
{
    var result = await classifier.ClassifyAsync(text, cancellationToken: cancellationToken);
    return new { label = result.Top.Label, score = result.Top.Score };
});
app.MapNuansa("/nuansa");
app.MapHealthChecks("/healthz");

app.Run();
