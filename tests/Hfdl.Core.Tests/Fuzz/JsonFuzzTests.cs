using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Tests.Fuzz;

/// <summary>
/// Tree, paths-info, repo-info, refs and whoami bodies, read exactly as <see cref="HubClient"/> and the planner read
/// them: whatever a server sends, the only failures are <see cref="HfdlException"/>s, and every file that is accepted has
/// a safe path, a non-negative size and a usable hash.
/// </summary>
public sealed class JsonFuzzTests
{
    private const string TreeSeed = """
        [{"oid":"dc08351d4dc0732d9c8af04070ced089b201ce2f","path":".gitattributes","size":345,"type":"file"},
         {"oid":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","path":"onnx","size":0,"type":"directory"},
         {"lfs":{"oid":"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a","size":440473133,"pointerSize":134},
          "xetHash":"2d8408d3a894d02517d04956e2f7546ff08362594072f3527ce144b5212a3296",
          "oid":"ba5d19791be1dd7992e33bd61f20207b0f7f50a5","path":"pytorch_model.bin","size":440473133,"type":"file",
          "lastCommit":{"id":"dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7","title":"t","date":"2024-02-19T11:06:12.000Z"},
          "securityFileStatus":{"status":"safe"}}]
        """;

    private const string RepoInfoSeed = """
        {"_id":"621ffdc036468d709f17434d","id":"openai-community/gpt2","author":"openai-community",
         "sha":"607a30d783dfa663caf39e06633721c8d4cfcd7e","lastModified":"2024-02-19T10:57:45.000Z","private":false,
         "gated":"manual","disabled":false,
         "siblings":[{"rfilename":"config.json","blobId":"10c66461e4c109db5a2196bff4bb59be30396ed8","size":665},
                     {"rfilename":"model.safetensors","blobId":"a","size":548105171,
                      "lfs":{"sha256":"248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707","size":548105171,"pointerSize":135}}]}
        """;

    private const string RefsSeed = """
        {"branches":[{"name":"main","ref":"refs/heads/main","targetCommit":"607a30d783dfa663caf39e06633721c8d4cfcd7e"}],
         "converts":[],"tags":[{"name":"v1","ref":"refs/tags/v1","targetCommit":"607a30d783dfa663caf39e06633721c8d4cfcd7e"}],
         "pullRequests":[]}
        """;

    private const string WhoAmISeed = """
        {"type":"user","id":"1","name":"alice","fullname":"Alice","orgs":[{"name":"acme","fullname":"Acme"}],
         "auth":{"type":"access_token","accessToken":{"displayName":"laptop","role":"read"}}}
        """;

    private static readonly Gen<string> JsonScalar = Gen.OneOf(
        Gen.Elements("null", "true", "false", "0", "-1", "1.5", "1e400", "-1e400", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "\"\"", "[]", "{}", "\"file\"", "\"directory\"", "\"blob\"", "\"tree\"",
            "\"dc08351d4dc0732d9c8af04070ced089b201ce2f\"", "\"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\"",
            "\"DC08351D4DC0732D9C8AF04070CED089B201CE2F\"", "\"../etc/passwd\"", "\"/abs\"", "\"C:\\\\x\"", "\"a\\u0000b\"",
            "\".download_state\"", "\"a//b\"", "\"a/\""),
        Fuzz.HostileString.Select(s => JsonSerializer.Serialize(s)));

    private static readonly Gen<string> LfsObject =
        from oid in JsonScalar
        from size in JsonScalar
        from pointer in JsonScalar
        select $"{{\"oid\":{oid},\"size\":{size},\"pointerSize\":{pointer}}}";

    private static readonly Gen<string> TreeEntryJson =
        from type in Gen.Frequency((3, Gen.Constant("\"file\"")), (2, JsonScalar))
        from oid in JsonScalar
        from size in JsonScalar
        from path in Gen.Frequency((1, Gen.Constant("null")), (4, JsonScalar))
        from lfs in Gen.OneOf(LfsObject, JsonScalar)
        from omit in Gen.Choose(0, 31)
        select "{" + string.Join(",", new[]
        {
            (omit & 1) == 0 ? $"\"type\":{type}" : null,
            (omit & 2) == 0 ? $"\"oid\":{oid}" : null,
            (omit & 4) == 0 ? $"\"size\":{size}" : null,
            (omit & 8) == 0 ? $"\"path\":{path}" : null,
            (omit & 16) == 0 ? $"\"lfs\":{lfs}" : null,
        }.Where(p => p is not null)) + "}";

    private static readonly Gen<byte[]> TreeBody = Gen.OneOf(
        Fuzz.Bytes,
        Fuzz.Mutated(TreeSeed, "[]", "[{}]", "{\"error\":\"x\"}"),
        TreeEntryJson.ListOf(5).Select(entries => Encoding.UTF8.GetBytes("[" + string.Join(",", entries) + "]")));

    private static readonly Gen<string> SiblingJson =
        from name in JsonScalar
        from blob in JsonScalar
        from size in JsonScalar
        from lfs in Gen.OneOf(
            JsonScalar,
            from sha in JsonScalar
            from lsize in JsonScalar
            select $"{{\"sha256\":{sha},\"size\":{lsize}}}")
        select $"{{\"rfilename\":{name},\"blobId\":{blob},\"size\":{size},\"lfs\":{lfs}}}";

    private static readonly Gen<byte[]> RepoInfoBody = Gen.OneOf(
        Fuzz.Bytes,
        Fuzz.Mutated(RepoInfoSeed, RefsSeed, WhoAmISeed),
        from id in JsonScalar
        from sha in JsonScalar
        from gated in JsonScalar
        from siblings in SiblingJson.ListOf(4)
        select Encoding.UTF8.GetBytes($"{{\"id\":{id},\"sha\":{sha},\"gated\":{gated},\"siblings\":[{string.Join(",", siblings)}]}}"));

    private static readonly Uri Url = new("https://hub.example/api/models/acme/x/tree/main");

    private static async Task<T?> ReadAsync<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        using var client = new HubClient(new HubClientOptions { Endpoint = new Uri("https://hub.example") });
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
        return await client.ReadJsonAsync(response, type, Url, CancellationToken.None);
    }

    /// <summary>Runs <paramref name="action"/> and fails on any exception that is not an <see cref="HfdlException"/>.</summary>
    private static void OnlyHfdlExceptions(Action action, byte[] input)
    {
        try
        {
            action();
        }
        catch (HfdlException ex)
        {
            Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        }
        catch (Exception ex)
        {
            Assert.Fail($"{ex.GetType().Name}: {ex.Message} for input {Convert.ToBase64String(input)}\n{ex}");
        }
    }

    [Fact]
    public void A_tree_or_paths_info_page_yields_only_safe_files_or_an_hfdl_error()
    {
        Fuzz.Check(TreeBody, body => OnlyHfdlExceptions(() =>
        {
            var entries = ReadAsync(body, HubJsonContext.Default.ListTreeEntry).GetAwaiter().GetResult() ?? [];
            foreach (var entry in entries)
            {
                if (entry is null)
                {
                    continue;
                }
                if (RemoteFile.FromTreeEntry(entry) is { } file)
                {
                    Assert.True(RepoFilePath.TryValidate(file.Path, out _), file.Path);
                    Assert.InRange(file.Size, 0, FileSizes.MaxFileSize);
                    Assert.Equal(file.IsLfs ? 64 : 40, file.Hash.Hex.Length);
                }
            }
        }, body));
    }

    [Fact]
    public void Repo_info_refs_and_whoami_bodies_yield_values_or_an_hfdl_error()
    {
        Fuzz.Check(RepoInfoBody, body =>
        {
            OnlyHfdlExceptions(() =>
            {
                var info = ReadAsync(body, HubJsonContext.Default.RepoInfo).GetAwaiter().GetResult();
                foreach (var sibling in info?.Siblings ?? [])
                {
                    if (sibling is not null)
                    {
                        RepoFilePath.Validate(sibling.RFilename);
                    }
                }
            }, body);
            OnlyHfdlExceptions(() => ReadAsync(body, HubJsonContext.Default.RefsInfo).GetAwaiter().GetResult(), body);
            OnlyHfdlExceptions(() =>
            {
                var me = ReadAsync(body, HubJsonContext.Default.WhoAmIInfo).GetAwaiter().GetResult();
                _ = me?.Orgs?.Select(o => o?.Name).ToList();
            }, body);
        });
    }

    [Fact]
    public void An_error_answer_becomes_an_hfdl_error_that_never_repeats_the_token_nor_a_control_character()
    {
        const string token = "hf_SecretTokenValue1234567890";
        var statuses = Gen.Elements(400, 401, 403, 404, 405, 409, 416, 429, 500, 502, 503, 504, 599, 200, 302, 999);
        var echo = Gen.Elements("", token, $"Bearer {token}", $"bad token {token} here", token.ToUpperInvariant());
        var gen =
            from status in statuses
            from code in Gen.Elements<string?>(null, "", "RepoNotFound", "GatedRepo", "EntryNotFound", "RevisionNotFound", "x")
            from message in Gen.OneOf(Fuzz.HostileString, Gen.Elements("Access to this resource is disabled.", "Invalid credentials in Authorization header", "awaiting review"))
            from echoed in echo
            from body in Gen.OneOf(Fuzz.HostileString, Fuzz.Mutated("{\"error\":\"e\"}", "{\"errors\":[{\"message\":\"m\"}]}", "{\"error\":[\"a\",\"b\"]}").Select(b => Encoding.UTF8.GetString(b)))
            from retryAfter in Gen.OneOf(Fuzz.HostileString, Gen.Elements("1", "999999999"))
            select (status, code, message + echoed, body + echoed, retryAfter);
        Fuzz.Check(gen, c =>
        {
            using var response = new HttpResponseMessage((HttpStatusCode)c.status);
            if (c.code is not null)
            {
                response.Headers.TryAddWithoutValidation("X-Error-Code", c.code);
            }
            response.Headers.TryAddWithoutValidation("X-Error-Message", c.Item3);
            response.Headers.TryAddWithoutValidation("Retry-After", c.retryAfter);
            var context = new HubRequestContext(RepoType.Model, RepoId.Parse("acme/private"), "main", "a.bin",
                new AccessToken(token, TokenOrigin.HfTokenVariable), "https://hub.example");
            var error = HubErrorMapper.Create(response.StatusCode, response.Headers, c.Item4, context);
            Assert.IsAssignableFrom<HfdlException>(error);
            Assert.DoesNotContain(token, error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(token, error.ServerMessage ?? "", StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(token, error.ToString(), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(error.Message, char.IsControl);
            Assert.DoesNotContain(error.Message.EnumerateRunes(), SafeText.IsHidden);
        });
    }

    [Theory]
    [InlineData("{\"type\":\"file\",\"oid\":\"dc08351d4dc0732d9c8af04070ced089b201ce2f\",\"path\":null,\"size\":1}")]
    [InlineData("{\"type\":\"file\",\"oid\":\"dc08351d4dc0732d9c8af04070ced089b201ce2f\",\"size\":1}")]
    [InlineData("{\"type\":\"file\",\"path\":\"a\",\"size\":1,\"lfs\":{\"oid\":null,\"size\":1}}")]
    [InlineData("{\"type\":\"file\",\"path\":\"a\",\"size\":1,\"lfs\":{\"size\":1}}")]
    [InlineData("null")]
    public void A_listing_entry_with_missing_or_null_fields_is_refused_with_an_hfdl_error(string entry)
    {
        var body = Encoding.UTF8.GetBytes("[" + entry + "]");
        OnlyHfdlExceptions(() =>
        {
            foreach (var e in ReadAsync(body, HubJsonContext.Default.ListTreeEntry).GetAwaiter().GetResult() ?? [])
            {
                if (e is not null)
                {
                    RemoteFile.FromTreeEntry(e);
                }
            }
        }, body);
    }

    [Fact]
    public void A_number_the_size_field_cannot_hold_is_a_protocol_error_not_a_crash()
    {
        var body = Encoding.UTF8.GetBytes("[{\"type\":\"file\",\"oid\":\"dc08351d4dc0732d9c8af04070ced089b201ce2f\",\"path\":\"a\",\"size\":"
            + decimal.MaxValue.ToString(CultureInfo.InvariantCulture) + "}]");
        var error = Assert.ThrowsAny<HfdlException>(() => ReadAsync(body, HubJsonContext.Default.ListTreeEntry).GetAwaiter().GetResult());
        Assert.IsType<HubProtocolException>(error);
    }
}
