using System.Text;

namespace Nuansa.Tokenization;

/// <summary>
/// A piece of text as a list of Unicode code points, each remembering which code points of the
/// original input it came from, so that normalization can change the text and tokens still get
/// offsets in the user's string (HF counts offsets in code points, as Python's <c>str</c> does).
/// </summary>
internal sealed class NormalizedText
{
    private List<int> _runes;
    private List<(int Start, int End)> _spans;

    private NormalizedText(List<int> runes, List<(int, int)> spans)
    {
        _runes = runes;
        _spans = spans;
    }

    /// <summary><paramref name="count"/> code points of <paramref name="runes"/> from <paramref name="start"/>, aligned to their own positions.</summary>
    public static NormalizedText FromRunes(IReadOnlyList<int> runes, int start, int count)
    {
        var r = new List<int>(count);
        var s = new List<(int, int)>(count);
        for (var i = 0; i < count; i++)
        {
            r.Add(runes[start + i]);
            s.Add((start + i, start + i + 1));
        }
        return new NormalizedText(r, s);
    }

    public int Length => _runes.Count;

    public int this[int index] => _runes[index];

    public (int Start, int End) Span(int index) => _spans[index];

    /// <summary>Original offsets covered by runes [start, end).</summary>
    public (int Start, int End) Offsets(int start, int end) =>
        end <= start ? (0, 0) : (_spans[start].Start, _spans[end - 1].End);

    public override string ToString() => ToString(0, _runes.Count);

    public string ToString(int start, int end)
    {
        var text = new StringBuilder(end - start);
        for (var i = start; i < end; i++)
        {
            var r = _runes[i];
            if (r < 0x10000)
            {
                text.Append((char)r);
            }
            else
            {
                text.Append((char)(0xD800 + ((r - 0x10000) >> 10)));
                text.Append((char)(0xDC00 + ((r - 0x10000) & 0x3FF)));
            }
        }
        return text.ToString();
    }

    /// <summary>Writes runes [start, end) as UTF-16 into <paramref name="destination"/>; returns the chars written.</summary>
    public int CopyTo(int start, int end, Span<char> destination)
    {
        var written = 0;
        for (var i = start; i < end; i++)
            written += new Rune(_runes[i]).EncodeToUtf16(destination[written..]);
        return written;
    }

    public NormalizedText Slice(int start, int end) =>
        new(_runes.GetRange(start, end - start), _spans.GetRange(start, end - start));

    /// <summary>Replaces each code point by zero or more code points, which all keep its original span.</summary>
    public void Map(Func<int, IEnumerable<int>?> replace)
    {
        // Most steps change nothing in most text: copy only from the first change on.
        var first = 0;
        IEnumerable<int>? firstReplacement = null;
        for (; first < _runes.Count && (firstReplacement = replace(_runes[first])) == null; first++)
        {
        }
        if (first == _runes.Count)
            return;
        var runes = _runes.GetRange(0, first);
        var spans = _spans.GetRange(0, first);
        for (var i = first; i < _runes.Count; i++)
        {
            var replacement = i == first ? firstReplacement : replace(_runes[i]);
            if (replacement == null)
            {
                runes.Add(_runes[i]);
                spans.Add(_spans[i]);
                continue;
            }
            foreach (var r in replacement)
            {
                runes.Add(r);
                spans.Add(_spans[i]);
            }
        }
        Replace(runes, spans);
    }

    /// <summary>
    /// HF's <c>transform_range</c>: rewrites runes [start, end) from a list of (new rune, change) where
    /// change 0 replaces the next original rune, a negative change also drops that many following runes,
    /// and a positive change inserts a rune aligned with the rune before it. <paramref name="initialRemoved"/>
    /// original runes are dropped first. Offsets after a transform are exactly HF's.
    /// </summary>
    public void Transform(int start, int end, IReadOnlyList<(int Rune, int Change)> dest, int initialRemoved = 0)
    {
        var runes = new List<int>(dest.Count);
        var spans = new List<(int, int)>(dest.Count);
        var offset = start + initialRemoved;
        foreach (var (rune, change) in dest)
        {
            (int, int) span;
            if (change > 0)
            {
                span = offset >= 1 ? _spans[offset - 1] : (0, 0);
            }
            else
            {
                span = _spans[Math.Min(offset, _spans.Count - 1)];
                offset += 1 - change;
            }
            runes.Add(rune);
            spans.Add(span);
        }
        _runes.RemoveRange(start, end - start);
        _spans.RemoveRange(start, end - start);
        _runes.InsertRange(start, runes);
        _spans.InsertRange(start, spans);
    }

    /// <summary>Inserts code points before everything, aligned with the first code point (as HF's prepend does).</summary>
    public void Prepend(int rune)
    {
        var span = _spans.Count > 0 ? _spans[0] : (0, 0);
        _runes.Insert(0, rune);
        _spans.Insert(0, span);
    }

    private void Replace(List<int> runes, List<(int, int)> spans)
    {
        _runes = runes;
        _spans = spans;
    }
}
