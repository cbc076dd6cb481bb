using System.Text;
using System.Text.Json;
using Hfdl.Core.Tests.Replay;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Tests.Xet;

public sealed class XetReconstructionTests
{
    /// <summary>The large_text.txt answer of the fixture (v1 or v2 shape), its elided URL replaced by a real one.</summary>
    private static byte[] LargeTextAnswer(string shape)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(SharedFixtures.File("xet/xet-values.json")));
        var value = json.RootElement.GetProperty("reconstruction_example").GetProperty(shape).GetProperty("value").GetRawText();
        return Encoding.UTF8.GetBytes(value.Replace("\"...\"", "\"https://transfer.example/xorbs/default/x?X-Xet-Signed-Range=bytes%3D0-2839\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("as_first_committed")]
    [InlineData("as_at_snapshot")]
    public void The_real_v1_and_v2_answers_read_the_same(string shape)
    {
        var reconstruction = XetReconstructionReader.Parse(LargeTextAnswer(shape));

        Assert.Equal(600_000, reconstruction.OffsetIntoFirstRange);
        Assert.Equal(2, reconstruction.Terms.Count);
        var xorb = XetHash.Parse("be748f77930d5929cabd510a15f2c30f2f460b639804ef79dea46affa04fd8b2", "xorb");
        Assert.All(reconstruction.Terms, t => Assert.Equal(new XetTerm(xorb, 0, 5, 655_360), t));
        var fetch = Assert.Single(reconstruction.Fetches);
        Assert.Equal(xorb, fetch.Xorb);
        Assert.Equal(new XetFetchRange(0, 5, 0, 2839), Assert.Single(fetch.Ranges));
        Assert.Equal("bytes=0-2839", fetch.RangeHeader);
    }

    [Fact]
    public void A_range_read_of_the_real_answer_plans_one_fetch_and_cuts_both_terms()
    {
        // The test the answer comes from reads bytes 600000 to 699999 of large_text.txt.
        var plan = XetFilePlan.Create(XetReconstructionReader.Parse(LargeTextAnswer("as_at_snapshot")), 100_000);

        Assert.Single(plan.Fetches);
        Assert.Equal(
            [new XetPlannedTerm(0, 0, 0, 5, 655_360, 600_000, 55_360, 0), new XetPlannedTerm(0, 0, 0, 5, 655_360, 0, 44_640, 55_360)],
            plan.Terms);
        Assert.Equal(2840, plan.FetchBytes);
    }

    [Fact]
    public void A_file_is_rebuilt_from_a_reconstruction_and_its_xorb_ranges()
    {
        // Two xorbs; the file is chunks 1-3 of the first, all of the second, then chunk 1 of the first again.
        var (first, firstChunks) = XorbFormatTests.Build(5);
        var (second, secondChunks) = XorbFormatTests.Build(2);
        var firstBytes = first.ToArray();
        var secondBytes = second.ToArray();
        var expected = firstChunks.Skip(1).Take(3).Concat(secondChunks).Append(firstChunks[1]).SelectMany(c => c).ToArray();
        var json = $$$"""
        {
          "offset_into_first_range": 0,
          "terms": [
            {"hash": "{{{first.Hash()}}}", "unpacked_length": {{{firstChunks.Skip(1).Take(3).Sum(c => c.Length)}}}, "range": {"start": 1, "end": 4}},
            {"hash": "{{{second.Hash()}}}", "unpacked_length": {{{secondChunks.Sum(c => c.Length)}}}, "range": {"start": 0, "end": 2}},
            {"hash": "{{{first.Hash()}}}", "unpacked_length": {{{firstChunks[1].Length}}}, "range": {"start": 1, "end": 2}}
          ],
          "xorbs": {
            "{{{first.Hash()}}}": [{"url": "https://cdn.example/a", "ranges": [{"chunks": {"start": 1, "end": 4}, "bytes": {"start": {{{first.Chunks[1].Offset}}}, "end": {{{first.Chunks[3].End - 1}}} }}]}],
            "{{{second.Hash()}}}": [{"url": "https://cdn.example/b", "ranges": [{"chunks": {"start": 0, "end": 2}, "bytes": {"start": 0, "end": {{{second.Chunks[1].End - 1}}} }}]}]
          }
        }
        """;
        var plan = XetFilePlan.Create(XetReconstructionReader.Parse(Encoding.UTF8.GetBytes(json)), expected.Length);

        Assert.Equal(2, plan.Fetches.Count);
        var decoded = plan.Fetches.Select((fetch, f) => fetch.Ranges.Select((range, r) =>
        {
            var source = fetch.Xorb == first.Hash() ? firstBytes : secondBytes;
            return XorbRangeDecoder.Decode(source.AsSpan((int)range.ByteStart, (int)range.ByteCount), range.ChunkCount, plan.MaxDecodedBytes(f, r));
        }).ToList()).ToList();
        var output = new byte[plan.Length];
        foreach (var term in plan.Terms)
        {
            term.CopyTo(decoded[term.FetchIndex][term.RangeIndex], output.AsSpan((int)term.OutputOffset));
        }

        Assert.Equal(expected, output);
        // The repeated chunk comes from the range already fetched for the first term.
        Assert.Equal((0, 0, 0), (plan.Terms[2].FetchIndex, plan.Terms[2].RangeIndex, plan.Terms[2].FirstChunk));
    }

    [Fact]
    public void A_v2_entry_with_several_ranges_gives_one_header_for_all_and_one_per_range()
    {
        var xorb = XetHash.FromBytes(new byte[32]).ToString();
        var json = $$$"""
        {"offset_into_first_range": 0,
         "terms": [{"hash": "{{{xorb}}}", "unpacked_length": 10, "range": {"start": 0, "end": 1}},
                   {"hash": "{{{xorb}}}", "unpacked_length": 10, "range": {"start": 4, "end": 5}}],
         "xorbs": {"{{{xorb}}}": [{"url": "https://cdn.example/x?X-Xet-Signed-Range=bytes%3D0-17%2C100-117",
                                  "ranges": [{"chunks": {"start": 0, "end": 1}, "bytes": {"start": 0, "end": 17}},
                                             {"chunks": {"start": 4, "end": 5}, "bytes": {"start": 100, "end": 117}}]}]}}
        """;

        var plan = XetFilePlan.Create(XetReconstructionReader.Parse(Encoding.UTF8.GetBytes(json)), 20);

        var fetch = Assert.Single(plan.Fetches);
        Assert.Equal("bytes=0-17,100-117", fetch.RangeHeader);
        Assert.Equal(["bytes=0-17", "bytes=100-117"], fetch.Ranges.Select(r => r.RangeHeader));
        Assert.Equal([0, 1], plan.Terms.Select(t => t.RangeIndex));
    }

    public static TheoryData<string, string> Lies => new()
    {
        { "a term no fetch entry covers", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":0,"end":2}}],"xorbs":{"H":[{"url":"https://c/x","ranges":[{"chunks":{"start":0,"end":1},"bytes":{"start":0,"end":17}}]}]}}""" },
        { "an empty chunk range", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":3,"end":3}}],"xorbs":{"H":[{"url":"https://c/x","ranges":[{"chunks":{"start":0,"end":5},"bytes":{"start":0,"end":99}}]}]}}""" },
        { "more raw bytes than its chunks can hold", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":131073,"range":{"start":0,"end":1}}],"xorbs":{"H":[{"url":"https://c/x","ranges":[{"chunks":{"start":0,"end":1},"bytes":{"start":0,"end":17}}]}]}}""" },
        { "a byte range too small for its chunks", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":0,"end":1}}],"xorbs":{"H":[{"url":"https://c/x","ranges":[{"chunks":{"start":0,"end":4},"bytes":{"start":0,"end":9}}]}]}}""" },
        { "a byte range ending before it starts", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":0,"end":1}}],"fetch_info":{"H":[{"url":"https://c/x","range":{"start":0,"end":1},"url_range":{"start":50,"end":10}}]}}""" },
        { "a URL that is not http(s)", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":0,"end":1}}],"fetch_info":{"H":[{"url":"file:///etc/passwd","range":{"start":0,"end":1},"url_range":{"start":0,"end":17}}]}}""" },
        { "a negative offset", """{"offset_into_first_range":-1,"terms":[],"xorbs":{}}""" },
        { "a hash that is not a hash", """{"offset_into_first_range":0,"terms":[{"hash":"xyz","unpacked_length":10,"range":{"start":0,"end":1}}],"xorbs":{}}""" },
        { "overlapping ranges", """{"offset_into_first_range":0,"terms":[{"hash":"H","unpacked_length":10,"range":{"start":0,"end":1}}],"xorbs":{"H":[{"url":"https://c/x","ranges":[{"chunks":{"start":0,"end":1},"bytes":{"start":0,"end":17}},{"chunks":{"start":1,"end":2},"bytes":{"start":17,"end":40}}]}]}}""" },
        { "no terms key", """{"offset_into_first_range":0,"xorbs":{}}""" },
        { "not JSON", """{"offset_into_first_range":0,"terms":[""" },
        { "a number that overflows", """{"offset_into_first_range":99999999999999999999,"terms":[],"xorbs":{}}""" },
    };

    [Theory]
    [MemberData(nameof(Lies))]
    public void An_answer_that_contradicts_itself_is_refused_with_a_sentence(string lie, string json)
    {
        _ = lie;
        var hash = XetHash.FromBytes(new byte[32]).ToString();

        var error = Assert.Throws<XetFormatException>(() => XetReconstructionReader.Parse(Encoding.UTF8.GetBytes(json.Replace("\"H\"", $"\"{hash}\"", StringComparison.Ordinal))));

        Assert.EndsWith(".", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, long> PlanLies => new()
    {
        // Terms hold 20 bytes.
        { "the offset skips the whole first term", 5 },
        { "the terms cover less than asked", 25 },
        { "there are terms past the end of the range", 3 },
    };

    [Theory]
    [MemberData(nameof(PlanLies))]
    public void A_reconstruction_that_does_not_cover_the_range_exactly_is_refused(string lie, long length)
    {
        var hash = XetHash.FromBytes(new byte[32]).ToString();
        var offset = lie.Contains("skips", StringComparison.Ordinal) ? 10 : 0;
        var json = $$$"""
        {"offset_into_first_range": {{{offset}}},
         "terms": [{"hash": "{{{hash}}}", "unpacked_length": 10, "range": {"start": 0, "end": 1}},
                   {"hash": "{{{hash}}}", "unpacked_length": 10, "range": {"start": 1, "end": 2}}],
         "xorbs": {"{{{hash}}}": [{"url": "https://c/x", "ranges": [{"chunks": {"start": 0, "end": 2}, "bytes": {"start": 0, "end": 40}}]}]}}
        """;
        var reconstruction = XetReconstructionReader.Parse(Encoding.UTF8.GetBytes(json));

        Assert.Throws<XetFormatException>(() => XetFilePlan.Create(reconstruction, length));
    }

    [Fact]
    public void A_term_whose_chunks_decode_to_another_length_than_promised_is_refused()
    {
        var (builder, chunks) = XorbFormatTests.Build(2);
        var bytes = builder.ToArray();
        var lie = chunks.Sum(c => c.Length) + 1;
        var json = $$$"""
        {"offset_into_first_range": 0,
         "terms": [{"hash": "{{{builder.Hash()}}}", "unpacked_length": {{{lie}}}, "range": {"start": 0, "end": 2}}],
         "xorbs": {"{{{builder.Hash()}}}": [{"url": "https://c/x", "ranges": [{"chunks": {"start": 0, "end": 2}, "bytes": {"start": 0, "end": {{{builder.Chunks[1].End - 1}}} }}]}]}}
        """;
        // Asking for fewer bytes than the term claims (a range read) must not hide the lie.
        var plan = XetFilePlan.Create(XetReconstructionReader.Parse(Encoding.UTF8.GetBytes(json)), lie - 100);
        var range = XorbRangeDecoder.Decode(bytes.AsSpan(0, builder.Chunks[1].End), 2, plan.MaxDecodedBytes(0, 0));

        Assert.Throws<XetFormatException>(() => plan.Terms[0].CopyTo(range, new byte[lie]));
    }

    [Fact]
    public void The_json_types_round_trip_with_their_wire_names()
    {
        var token = new XetReadTokenJson { AccessToken = "xet_abc", Exp = 1_848_535_668, CasUrl = "https://cas.example" };

        var text = JsonSerializer.Serialize(token, XetJsonContext.Default.XetReadTokenJson);

        Assert.Equal("""{"accessToken":"xet_abc","exp":1848535668,"casUrl":"https://cas.example"}""", text);
        Assert.Equal(token, JsonSerializer.Deserialize(text, XetJsonContext.Default.XetReadTokenJson));
    }
}
