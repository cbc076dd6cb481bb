using System.Net;
using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

public sealed class RateLimitHeadersTests
{
    [Theory]
    [InlineData("\"api\";r=0;t=55", "api", 0L, 55L)]
    [InlineData("\"resolvers\";r=2999;t=300", "resolvers", 2999L, 300L)]
    [InlineData("\"pages\"; r=0; t=0", "pages", 0L, 0L)]
    [InlineData("r=0;t=9", null, 0L, 9L)]
    public void The_RateLimit_header_gives_bucket_remaining_and_reset(string value, string? bucket, long remaining, long reset)
    {
        Assert.Equal((bucket, remaining, reset), RateLimitHeaders.ParseRateLimit(value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("\"api\";r=0")]
    [InlineData("\"api\";t=55")]
    [InlineData("\"api\";r=x;t=55")]
    [InlineData("\"api\";r=-1;t=55")]
    [InlineData("\"api\";r=0;t=-5")]
    [InlineData("\"api\";r=0;t=99999999999")]
    [InlineData("\"api\";r=0;t=55.5")]
    public void A_RateLimit_header_without_usable_r_and_t_gives_null(string? value)
    {
        Assert.Null(RateLimitHeaders.ParseRateLimit(value));
    }

    [Fact]
    public void A_very_long_RateLimit_header_is_not_parsed()
    {
        Assert.Null(RateLimitHeaders.ParseRateLimit("\"api\";r=0;t=55;" + new string('x', 2000)));
    }

    public static TheoryData<string?, string?, double?> Delays => new()
    {
        { "\"api\";r=0;t=55", null, 56 },
        { "\"resolvers\";r=0;t=0", null, 1 },
        { "\"api\";r=0;t=55", "10", 56 },          // RateLimit wins over Retry-After
        { "\"api\";r=3;t=55", null, null },         // requests left: no reason to wait
        { "\"api\";r=3;t=55", "10", 11 },           // ...unless the server says Retry-After
        { null, "10", 11 },
        { null, "0", 1 },
        { "garbage", "7", 8 },
        { "garbage", null, null },
        { null, null, null },
        { null, "Wed, 21 Oct 2015 07:28:00 GMT", null }, // HTTP dates are ignored, as huggingface_hub does
    };

    [Theory]
    [MemberData(nameof(Delays))]
    public void RetryDelay_waits_reset_plus_one_second_or_Retry_After_plus_one(string? rateLimit, string? retryAfter, double? seconds)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        if (rateLimit is not null)
        {
            response.Headers.TryAddWithoutValidation("RateLimit", rateLimit);
        }
        if (retryAfter is not null)
        {
            response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
        }

        Assert.Equal(seconds is { } s ? TimeSpan.FromSeconds(s) : null, RateLimitHeaders.RetryDelay(response.Headers));
    }
}

public sealed class HubErrorMapperTests
{
    private const string Secret = "hf_SECRETSECRET";
    private const string Endpoint = "https://huggingface.co";
    private static readonly RepoId Llama = RepoId.Parse("meta-llama/Llama-3.1-8B");

    private static HubRequestContext Context(AccessToken? token, RepoType type = RepoType.Model, string? file = null, string? revision = "main") =>
        new(type, Llama, revision, file, token, Endpoint);

    private static AccessToken Token => new(Secret, TokenOrigin.HfTokenVariable);

    private static HubException Map(HttpStatusCode status, HubRequestContext context, string? body = null, params (string Name, string Value)[] headers)
    {
        using var response = new HttpResponseMessage(status);
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }
        var ex = HubErrorMapper.Create(status, response.Headers, body, context);
        AssertNoSecret(ex);
        return ex;
    }

    private static void AssertNoSecret(Exception ex)
    {
        Assert.DoesNotContain("SECRET", ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", ex.Message, StringComparison.Ordinal);
        if (ex is HubException hub)
        {
            Assert.DoesNotContain("SECRET", hub.ServerMessage ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_401_without_a_token_is_repo_not_found_and_says_to_log_in()
    {
        var ex = Map(HttpStatusCode.Unauthorized, Context(null), "Invalid username or password.",
            ("WWW-Authenticate", "Bearer realm=\"Authentication required\", charset=\"UTF-8\""),
            ("X-Request-Id", "Root=1-679137e1-10c621dc54b6dd8948e428ed"));

        var notFound = Assert.IsType<RepositoryNotFoundException>(ex);
        Assert.Equal(HttpStatusCode.Unauthorized, notFound.StatusCode);
        Assert.Contains("Model 'meta-llama/Llama-3.1-8B' was not found, or it is private", ex.Message, StringComparison.Ordinal);
        Assert.Contains("log in", ex.Message, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Invalid username or password.", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("(Request ID: Root=1-679137e1-10c621dc54b6dd8948e428ed)", ex.Message, StringComparison.Ordinal);
        Assert.Equal("Root=1-679137e1-10c621dc54b6dd8948e428ed", ex.RequestId);
    }

    [Fact]
    public void An_error_of_the_account_check_names_that_request_not_a_repository()
    {
        var whoami = new HubRequestContext(RepoType.Model, null, null, null, Token, Endpoint, "the account check (whoami)");

        var tooLarge = Map(HttpStatusCode.RequestHeaderFieldsTooLarge, whoami);
        var unauthorized = Map(HttpStatusCode.Unauthorized, whoami, "Unauthorized");

        Assert.StartsWith("The Hub answered 431 Request Header Fields Too Large for the account check (whoami).", tooLarge.Message, StringComparison.Ordinal);
        Assert.IsNotType<RepositoryNotFoundException>(unauthorized);
        Assert.DoesNotContain("repository", tooLarge.Message + unauthorized.Message, StringComparison.OrdinalIgnoreCase);
        // Whatever the server's words, a 401 to the account check is about the token: which one, and what to do.
        var rejected = Assert.IsType<InvalidTokenException>(Map(HttpStatusCode.Unauthorized, whoami, null, ("X-Error-Message", "bad token")));
        Assert.Contains($"The Hub rejected {Token.Describe()}", rejected.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(TokenOrigin.HfTokenVariable), "Set HF_TOKEN to a valid one")]
    [InlineData(nameof(TokenOrigin.LegacyTokenVariable), "Set HUGGING_FACE_HUB_TOKEN to a valid one")]
    [InlineData(nameof(TokenOrigin.TokenFile), "log in again")]
    [InlineData(nameof(TokenOrigin.Explicit), "Give a valid one in HfdlClientOptions.Token")] // it said "log in again" (QA: helper-63)
    public void A_rejected_token_is_to_be_fixed_where_it_came_from(string originName, string advice)
    {
        var origin = Enum.Parse<TokenOrigin>(originName);
        var ex = Map(HttpStatusCode.Unauthorized, Context(new AccessToken(Secret, origin)), "Invalid credentials in Authorization header");

        var invalid = Assert.IsType<InvalidTokenException>(ex);
        Assert.Contains(advice, ex.Message, StringComparison.Ordinal);
        Assert.Equal(origin, invalid.RejectedTokenOrigin);
        Assert.Equal(origin == TokenOrigin.TokenFile, ex.Message.Contains("log in", StringComparison.Ordinal));
    }

    [Fact]
    public void A_401_with_the_old_RepoNotFound_code_is_repo_not_found_too()
    {
        var ex = Map(HttpStatusCode.Unauthorized, Context(null), null, ("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found"));
        Assert.IsType<RepositoryNotFoundException>(ex);
    }

    [Fact]
    public void A_404_RepoNotFound_with_a_token_names_the_token_source_not_its_value()
    {
        var ex = Map(HttpStatusCode.NotFound, Context(Token), "{\"error\":\"Repository not found\"}",
            ("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found"));

        Assert.IsType<RepositoryNotFoundException>(ex);
        Assert.Contains("the token in the HF_TOKEN environment variable", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Repository not found", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("log in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_414_says_the_revision_or_file_name_is_too_long()
    {
        // A 100,000-character revision got "The Hub answered 414 RequestUriTooLong" and no advice (QA: helper-40).
        var ex = Map(HttpStatusCode.RequestUriTooLong, Context(null, revision: new string('r', 100_000)));

        Assert.Contains("(414 URI Too Long): the revision or file name asked for is longer than any the Hub holds", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_404_RevisionNotFound_names_the_revision()
    {
        var ex = Map(HttpStatusCode.NotFound, Context(Token, revision: "v9"), "{\"error\":\"Invalid rev id: v9\"}",
            ("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", "Invalid rev id: v9"));

        Assert.IsType<RevisionNotFoundException>(ex);
        Assert.Contains("Revision 'v9' does not exist in model 'meta-llama/Llama-3.1-8B'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("https://huggingface.co/meta-llama/Llama-3.1-8B", ex.Message, StringComparison.Ordinal);
        Assert.Equal("Invalid rev id: v9", ex.ServerMessage);
    }

    [Fact]
    public void A_404_EntryNotFound_carries_the_commit_and_suggests_hfdl_ls()
    {
        var commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
        var ex = Map(HttpStatusCode.NotFound, Context(null, file: "nope.json"), "Entry not found",
            ("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found"), ("X-Repo-Commit", commit));

        var entry = Assert.IsType<EntryNotFoundException>(ex);
        Assert.Equal(commit, entry.Commit);
        Assert.Contains("File 'nope.json' does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("the repo's file list", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gated_401_without_a_token_says_to_request_access_and_log_in()
    {
        var ex = Map(HttpStatusCode.Unauthorized, Context(null), null,
            ("X-Error-Code", "GatedRepo"),
            ("X-Error-Message", "Access to model meta-llama/Llama-3.1-8B is restricted. You must have access to it and be authenticated to access it. Please log in."));

        var gated = Assert.IsType<GatedRepoException>(ex);
        Assert.False(gated.Pending);
        Assert.Contains("https://huggingface.co/meta-llama/Llama-3.1-8B", ex.Message, StringComparison.Ordinal);
        Assert.Contains("log in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gated_403_with_a_token_not_approved_points_to_the_repo_page()
    {
        var ex = Map(HttpStatusCode.Forbidden, Context(Token), null,
            ("X-Error-Code", "GatedRepo"),
            ("X-Error-Message", "Access to model meta-llama/Llama-3.1-8B is restricted and you are not in the authorized list. Visit https://huggingface.co/meta-llama/Llama-3.1-8B to ask for access."));

        var gated = Assert.IsType<GatedRepoException>(ex);
        Assert.False(gated.Pending);
        Assert.Contains("not in its authorized list", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Request access on https://huggingface.co/meta-llama/Llama-3.1-8B", ex.Message, StringComparison.Ordinal);
        Assert.Contains("the token in the HF_TOKEN environment variable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gated_403_with_a_pending_request_says_to_wait_for_approval()
    {
        var ex = Map(HttpStatusCode.Forbidden, Context(Token), null,
            ("X-Error-Code", "GatedRepo"),
            ("X-Error-Message", "Your request to access model meta-llama/Llama-3.1-8B is awaiting a review from the repo authors."));

        var gated = Assert.IsType<GatedRepoException>(ex);
        Assert.True(gated.Pending);
        Assert.Contains("pending", ex.Message, StringComparison.Ordinal);
        Assert.Contains("https://huggingface.co/meta-llama/Llama-3.1-8B", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not in its authorized list", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gated_dataset_points_to_the_dataset_page()
    {
        var ex = Map(HttpStatusCode.Unauthorized, Context(null, RepoType.Dataset), null, ("X-Error-Code", "GatedRepo"));
        Assert.Contains("https://huggingface.co/datasets/meta-llama/Llama-3.1-8B", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("Dataset 'meta-llama/Llama-3.1-8B' is gated", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disabled_repo_is_DisabledRepoException()
    {
        var ex = Map(HttpStatusCode.Forbidden, Context(Token), null, ("X-Error-Message", "Access to this resource is disabled."));
        Assert.IsType<DisabledRepoException>(ex);
        Assert.Contains("disabled", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_token_on_a_public_repo_says_which_token_and_how_to_replace_it()
    {
        var token = new AccessToken(Secret, TokenOrigin.TokenFile, "/home/u/.cache/huggingface/token");
        var ex = Map(HttpStatusCode.Unauthorized, Context(token), "{\"error\":\"Invalid credentials in Authorization header\"}");

        Assert.IsType<InvalidTokenException>(ex);
        Assert.Contains("the token in /home/u/.cache/huggingface/token", ex.Message, StringComparison.Ordinal);
        Assert.Contains("https://huggingface.co/settings/tokens", ex.Message, StringComparison.Ordinal);
        Assert.Contains("log in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_429_is_RateLimitedException_with_the_delay_the_Hub_asks_for()
    {
        var ex = Map(HttpStatusCode.TooManyRequests, Context(Token), null,
            ("RateLimit", "\"resolvers\";r=0;t=55"), ("RateLimit-Policy", "\"fixed window\";\"resolvers\";q=3000;w=300"));

        var limited = Assert.IsType<RateLimitedException>(ex);
        Assert.Equal(TimeSpan.FromSeconds(56), limited.RetryAfter);
        Assert.Contains("retry after 56 s", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_expired_signed_url_403_with_an_xml_body_is_a_plain_forbidden_error()
    {
        var ex = Map(HttpStatusCode.Forbidden, Context(Token), "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>");

        Assert.Equal(typeof(HubException), ex.GetType());
        Assert.Null(ex.ServerMessage);
        Assert.Contains("403 Forbidden", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("<Error>", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_409_with_a_json_error_body_quotes_the_hub()
    {
        // TestSpaceAPIProduction.test_manage_secrets.yaml: 409, no X-Error-Code, a JSON body.
        var ex = Map(HttpStatusCode.Conflict, Context(Token), "{\"error\":\"You already created this space repo\",\"url\":\"https://huggingface.co/spaces/user/tmp_test_space\"}",
            ("X-Request-Id", "Root=1-67ca0000-abc"));

        Assert.Equal(typeof(HubException), ex.GetType());
        Assert.Equal("You already created this space repo", ex.ServerMessage);
        Assert.Contains("409 Conflict", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500, "try again later")]
    [InlineData(502, "try again later")]
    [InlineData(503, "try again later")]
    public void A_server_error_suggests_trying_again(int status, string hint)
    {
        var ex = Map((HttpStatusCode)status, Context(null), "<html>oops</html>");
        Assert.Equal(typeof(HubException), ex.GetType());
        Assert.Contains(hint, ex.Message, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode)status, ex.StatusCode);
    }

    [Theory]
    [InlineData("X-Amzn-Trace-Id", "trace-1")]
    [InlineData("X-Amz-Cf-Id", "cf-1")]
    public void The_request_id_falls_back_to_the_trace_headers(string header, string value)
    {
        var ex = Map(HttpStatusCode.NotFound, Context(null), null, (header, value));
        Assert.Equal(value, ex.RequestId);
        Assert.EndsWith($"(Request ID: {value})", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"error\":[\"a\",\"b\"]}", "a; b")]
    [InlineData("{\"errors\":[{\"message\":\"first\"},{\"message\":\"second\"}]}", "first; second")]
    [InlineData("{\"error\":\"invalid_grant\",\"error_description\":\"expired\"}", "invalid_grant")]
    [InlineData("Entry not found", "Entry not found")]
    [InlineData("<!DOCTYPE html><html></html>", null)]
    [InlineData("{not json", null)]
    [InlineData("", null)]
    [InlineData("   ", null)]
    public void The_server_message_is_read_from_the_body_shapes_the_Hub_uses(string body, string? expected)
    {
        using var response = new HttpResponseMessage();
        Assert.Equal(expected, HubErrorMapper.ServerMessage(response.Headers, body));
    }

    [Fact]
    public void X_Error_Message_wins_over_the_body_and_a_long_text_body_is_cut()
    {
        using var response = new HttpResponseMessage();
        Assert.Equal(new string('x', 300) + "...", HubErrorMapper.ServerMessage(response.Headers, new string('x', 5000)));
        response.Headers.TryAddWithoutValidation("X-Error-Message", "from header");
        Assert.Equal("from header", HubErrorMapper.ServerMessage(response.Headers, "{\"error\":\"from body\"}"));
    }

    public static TheoryData<int, string?, string?, Type> Matrix => new()
    {
        { 401, null, "Invalid username or password.", typeof(RepositoryNotFoundException) },
        { 404, "RepoNotFound", "Repository not found", typeof(RepositoryNotFoundException) },
        { 404, "RevisionNotFound", "Invalid rev id: x", typeof(RevisionNotFoundException) },
        { 404, "EntryNotFound", "Entry not found", typeof(EntryNotFoundException) },
        { 401, "GatedRepo", "Access to model x is restricted. Please log in.", typeof(GatedRepoException) },
        { 403, "GatedRepo", "Access to model x is restricted and you are not in the authorized list.", typeof(GatedRepoException) },
        { 403, null, "Access to this resource is disabled.", typeof(DisabledRepoException) },
        { 401, null, "Invalid credentials in Authorization header", typeof(InvalidTokenException) },
        { 429, null, null, typeof(RateLimitedException) },
        { 403, null, null, typeof(HubException) },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public void Every_row_of_the_error_table_maps_to_its_type_without_leaking_the_token(int status, string? code, string? message, Type expected)
    {
        foreach (var token in new[] { null, Token, new AccessToken(Secret, TokenOrigin.CommandLine), new AccessToken(Secret, TokenOrigin.TokenFile, "/t") })
        {
            var headers = new List<(string, string)> { ("X-Request-Id", "rid-1") };
            if (code is not null)
            {
                headers.Add(("X-Error-Code", code));
            }
            if (message is not null)
            {
                headers.Add(("X-Error-Message", message));
            }
            var ex = Map((HttpStatusCode)status, Context(token, file: "f.bin"), null, [.. headers]);
            Assert.Equal(expected, ex.GetType());
            Assert.EndsWith("(Request ID: rid-1)", ex.Message, StringComparison.Ordinal);
            Assert.Equal((HttpStatusCode)status, ex.StatusCode);
        }
    }
}

public sealed class UnreachableMessageTests
{
    [Theory]
    [InlineData("Unable to read data from the transport connection: Connection reset by peer.")]
    [InlineData("Unable to read data from the transport connection: Connection reset by peer")]
    public void The_system_s_reason_is_one_sentence_inside_the_message_with_one_period(string reason)
    {
        var error = HubClient.Unreachable(new Uri("http://127.0.0.1:9/api/models/a/b"), new HttpRequestException("failed", new IOException(reason)));

        Assert.StartsWith("Could not reach http://127.0.0.1:9: Unable to read data from the transport connection: Connection reset by peer. Check your network", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("..", error.Message, StringComparison.Ordinal);
    }
}
