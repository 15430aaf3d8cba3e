using Nuansa.Graphs;

namespace Nuansa.Tests.Graphs;

/// <summary>The shapes the graph builder infers, which autodiff trusts to leave out run-time Shape nodes.</summary>
public class GraphBuilderTests
{
    private static string Text(GraphBuilder g, string value) => g.Shape(value) is { } s ? $"[{string.Join(", ", s)}]" : "null";

    [Fact]
    public void ShapesFollowTheInputsSymbolsThroughAnEncoderLayer()
    {
        var g = new GraphBuilder("shapes");
        var ids = g.Input("ids", ElementType.Int64, "batch", "sequence");
        var table = g.Input("table", ElementType.Float, 100, 8);
        var positions = g.Input("positions", ElementType.Float, 16, 8);
        var x = g.Gather(table, ids);
        Assert.Equal("[batch, sequence, 8]", Text(g, x));

        // The position table cut to the sequence length read off the ids has the ids' own symbol.
        var length = g.Op("Shape", [ids], new() { ["start"] = 1, ["end"] = 2 });
        Assert.Equal("[1]", Text(g, length));
        var cut = g.Op("Slice", [positions, g.Ints(0), length, g.Ints(0)]);
        Assert.Equal("[sequence, 8]", Text(g, cut));
        Assert.Equal("[batch, sequence, 8]", Text(g, g.Add(x, cut)));
        // Cut anywhere else, the sliced axis is unknown, and so is what it broadcasts with.
        var other = g.Op("Slice", [positions, g.Ints(1), length, g.Ints(0)]);
        Assert.Equal("[?, 8]", Text(g, other));
        Assert.Equal("[batch, ?, 8]", Text(g, g.Add(x, other)));

        var heads = g.Transpose(g.Reshape(x, 0, 0, 2, 4), 0, 2, 1, 3);
        Assert.Equal("[batch, 2, sequence, 4]", Text(g, heads));
        var scores = g.MatMul(heads, g.Transpose(g.Reshape(x, 0, 0, 2, 4), 0, 2, 3, 1));
        Assert.Equal("[batch, 2, sequence, sequence]", Text(g, scores));
        var mask = g.Unsqueeze(g.Cast(ids, ElementType.Float), 1, 2);
        Assert.Equal("[batch, 1, 1, sequence]", Text(g, mask));
        Assert.Equal("[batch, 2, sequence, sequence]", Text(g, g.Add(scores, mask)));
        Assert.Equal("[batch, 2, sequence, 1]", Text(g, g.ReduceSum(scores, [-1], keepDims: true)));
        Assert.Equal("[batch, sequence]", Text(g, g.ReduceMean(scores, [1, 3], keepDims: false)));
        Assert.Equal("[]", Text(g, g.Op("ReduceSum", [scores], new() { ["keepdims"] = 0 })));
        Assert.Equal("[batch, sequence, 3]", Text(g, g.MatMul(x, g.Input("w", ElementType.Float, 8, 3))));
        Assert.Equal("[?, 3]", Text(g, g.MatMul(g.Reshape(x, -1, 8), g.Input("v", ElementType.Float, 8, 3))));
        Assert.Equal("[8, 3]", Text(g, g.Op("Gemm", [g.Reshape(x, -1, 8), g.Reshape(g.MatMul(x, "w"), -1, 3)], new() { ["transA"] = 1 })));
        Assert.Equal("[batch, 8]", Text(g, g.Gather(x, g.ScalarInt(0), axis: 1)));
    }

    [Fact]
    public void DimensionsThatMayDifferAtRunTimeAreNeverTakenForEqual()
    {
        var g = new GraphBuilder("broadcast");
        var a = g.Input("a", ElementType.Float, "n", 4);
        var b = g.Input("b", ElementType.Float, "m", 4);
        var one = g.Input("one", ElementType.Float, 1, 4);
        // n and m may differ (or one of them be 1): the result is unknown, never one of them.
        Assert.Equal("[?, 4]", Text(g, g.Add(a, b)));
        Assert.Equal("[n, 4]", Text(g, g.Add(a, one)));
        Assert.False(GraphBuilder.Same(default, default));
        Assert.True(GraphBuilder.Same("n", "n"));
        Assert.False(GraphBuilder.Same("n", "m"));
        // A gradient has its variable's shape: refining fills what the ops left unknown and keeps what they told.
        var sum = g.Add(a, b);
        g.Refine(sum, ["n", 4]);
        Assert.Equal("[n, 4]", Text(g, sum));
        g.Refine(sum, ["m", 4]);
        Assert.Equal("[n, 4]", Text(g, sum));
    }
}
