using System.Security.Cryptography;
using System.Text.Json;
using Hfdl.Core.Tests.Replay;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Tests.Xet;

public sealed class XetHashingTests
{
    // The hashes xet-core's aggregated-hash reference test builds from seeds 0..7 (merklehash/src/aggregated_hashes.rs,
    // test_correctness); each chunk's length is its seed times 100.
    private static readonly string[] Seeded =
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6",
        "c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72",
        "0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37",
        "adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784",
        "4ac202caf347fc1e9c874b1ef6a1c5e619141eb775a6f43f0f0124ccd0060d9e",
        "b3b28636f65c149ea52eb1f94669466f70f033b54cea792824c696ba6ef3c389",
        "0e2c1a002aae913d2c0fc8ddfa4e9e14b7b311b3b0d458726d5d9f6a6318013c",
    ];

    private static List<XetChunkRef> Chunks(IEnumerable<int> seeds) =>
        [.. seeds.Select(s => new XetChunkRef(XetHash.Parse(Seeded[s], "test hash"), (ulong)(s * 100)))];

    public static TheoryData<int[], string, string> AggregatedReference => new()
    {
        { [], "0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000" },
        { [0], "0000000000000000000000000000000000000000000000000000000000000000", "638a6bc391964a85939d48f008e8bdbae6a7975e7ca2d87a3ce2492f4e4d8a4c" },
        { [1], "cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6", "8e16257caa3fe079d484d872a8975264b2ff683b0d6db9028cc7c0f968a45661" },
        { [1, 2, 3], "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc", "54e55dccc6653c612bdb5576c5d3cb34bb31bc4e100248abccf4c908b3ef7715" },
        { [1, 1, 1, 1], "89f2ada89ff8c96763c6b25010e6dd76a4c05b1466207633ea559acf2093211b", "2cdba690d0e09563596e0cda626d43eb4c96ef1e994fe72d9b2f5a83cfcd36dd" },
        { [1, 2, 1, 2], "90f8313ef12df385d237a067aded02562c35ded12116e32eba401dbc86c38031", "284ea045e5a579e99c21ec597c20de1fc0c09e7168162aac00db8f61b3d82dbb" },
        { [1, 2, 1, 2, 3, 4], "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9", "91d21684db364c8883ab8209fa5eb2e781cf07f37e1fa43e731c30839afe422f" },
        { [0, 1, 0, 1], "e1755c85be07fd6b7a8d7becc85e6d8c5f507f2a3d38b316bcb6f97855e72188", "207caf24fce045ac6d873b4c6186a5a435d600d103e1ae345e55ddf1f4b7f7ef" },
        { [0, 1, 0, 1, 0], "f36c6a6374a567efd36ed087aeb680b57e3af4e0b5b8e7be2593df4cb647a2de", "ab2f46d31855e1133b3b5b70e78f841394a648710a208923b221c1a8a0572a1f" },
        { [3, 4, 5, 3], "73b9dc802ab03a0855c66823a18d95c2a785af594535756abf405038b6270cb8", "c7d5be75ef5ec12888027ad305141e4109e599494477661177475c84e12de48b" },
        { [3, 4, 5, 5, 5], "2c1fd1eca47e284512fcb40fcf45a1874939f9b91c774d46aeba5d004d9d263d", "0799ba7ee2c3fed173a8e8d832cd13970ddc16070ffbc8aa6dcd77476f66dc73" },
        { [0, 1, 2, 3, 4, 5, 6, 7], "f62abe77e3fb9c954fe52b0028027ddc90c064c45951a4fd2211d87e5c0011db", "d1b068be5bbdb38992269e8efe61f601881e39f7a7585fd76883cc6ea5c23b44" },
        { [.. Enumerable.Range(0, 64).Select(i => i % 8)], "6554007c9b5d0a5e7918f79596a1b68815c1407535585435f5735db761f21b88", "a8640ab81d48854e00078e12b1ea8be5d90be0ffb5f73a15b7009981d093ddd8" },
        { [.. Enumerable.Repeat(1, 32)], "0a0123c1617921883b7e13902095fcb86676e77c49120c33b233003b0af0e0a6", "53af4711fd1d5e5bdc7f931b6be932314d8d673cb16ad2482f6f5222eaf9e63d" },
    };

    [Theory]
    [MemberData(nameof(AggregatedReference))]
    public void Xorb_and_file_hashes_match_the_reference_values_of_xet_core(int[] seeds, string xorbHash, string fileHash)
    {
        var chunks = Chunks(seeds);

        Assert.Equal(xorbHash, XetHashing.XorbHash(chunks).ToString());
        Assert.Equal(fileHash, XetHashing.FileHash(chunks).ToString());
    }

    [Fact]
    public void A_salted_file_hash_matches_the_reference_value_of_xet_core()
    {
        var salt = XetHash.Parse("b286606709ef32a1cfede1e603a39f83fef56772d8234c0e35d8920071d80b69", "salt");

        Assert.Equal("337f1f046e4cfc1057f0f3edbd87cf977fdfaf3c2b0c0031ca2d1d2a34aa2270", XetHashing.FileHash(Chunks([1, 2, 3]), salt).ToString());
    }

    [Fact]
    public void A_hash_prints_each_eight_byte_word_reversed_as_the_spec_shows()
    {
        // spec api.md, "Converting Hashes to Strings": bytes 0..31 print as below. (The spec's own example string drops
        // the "10" of the third word, which its reordered byte list [23, 22, …, 16] has.)
        var hash = XetHash.FromBytes([.. Enumerable.Range(0, 32).Select(i => (byte)i)]);

        Assert.Equal("07060504030201000f0e0d0c0b0a09081716151413121110" + "1f1e1d1c1b1a1918", hash.ToString());
        Assert.Equal(hash, XetHash.Parse(hash.ToString(), "hash"));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i), hash.ToArray());
    }

    [Theory]
    [InlineData("****************************************************************")]
    [InlineData("07060504030201000f0e0d0c0b0a0908171615141312111f1e1d1c1b1a191")]
    [InlineData("07060504030201000f0e0d0c0b0a0908171615141312111f1e1d1c1b1a19180")]
    [InlineData("0x060504030201000f0e0d0c0b0a0908171615141312111f1e1d1c1b1a191800")]
    [InlineData("")]
    public void Anything_but_64_hex_digits_is_not_a_hash(string text)
    {
        Assert.False(XetHash.TryParse(text, out _));
        Assert.Throws<XetFormatException>(() => XetHash.Parse(text, "test hash"));
    }

    [Fact]
    public void The_hmac_of_a_chunk_hash_is_what_the_real_shard_stores()
    {
        // huggingface.js shardParser.spec.ts: this chunk hash, keyed with the shard's HMAC key, is the first chunk
        // hash of the shard's second xorb.
        using var json = JsonDocument.Parse(File.ReadAllText(SharedFixtures.File("xet/gpt2-64-8bits.tflite.shard.json")));
        var key = XetHash.Parse(json.RootElement.GetProperty("hmac_key").GetString()!, "key");
        var expected = json.RootElement.GetProperty("xorbs")[1].GetProperty("chunk_hashes")[0].GetString();

        var chunk = XetHash.Parse("9502eec19d4b0c9f7b389228fa801f68ecdf15d69ccd1da2f9ddbd0219898335", "chunk hash");

        Assert.Equal(expected, XetHashing.Hmac(chunk, key).ToString());
    }

    [Fact]
    public void The_xet_hash_of_a_real_hub_file_is_reproduced_from_its_bytes()
    {
        // celinah/xet-experiments/large_text.txt on huggingface.co (fixture xet-values.json): chunking, chunk hashes
        // and the file hash, end to end.
        using var json = JsonDocument.Parse(File.ReadAllText(SharedFixtures.File("xet/xet-values.json")));
        var file = json.RootElement.GetProperty("files")[0];
        var data = XetTestData.LargeText();
        Assert.Equal(file.GetProperty("size").GetInt64(), data.Length);
        Assert.Equal(file.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(data)));

        var chunks = new List<XetChunkRef>();
        var offset = 0;
        foreach (var length in XetChunker.ChunkLengths(data))
        {
            chunks.Add(new XetChunkRef(XetHashing.ChunkHash(data.AsSpan(offset, length)), (ulong)length));
            offset += length;
        }

        Assert.Equal(file.GetProperty("xet_hash").GetString(), XetHashing.FileHash(chunks).ToString());
    }
}
