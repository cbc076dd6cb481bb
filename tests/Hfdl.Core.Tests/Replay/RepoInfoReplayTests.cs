using System.Text.Json;
using System.Text.RegularExpressions;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Tests.Replay;

/// <summary>Real recorded <c>/api/models/{id}</c> answers, replayed over loopback through the real HTTP stack.</summary>
public sealed partial class RepoInfoReplayTests
{
    private const string Secret = "hf_SECRETSECRET";
    private const string RenameCassette = "huggingface_hub-cassettes/InferenceApiTest.test_inference_overriding_invalid_task.yaml";
    private const string DeletedInteractions = "huggingface_hub-cassettes-deleted/hub-api-interactions.yaml";

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    private static HubClient Client(ReplayServer server, AccessToken? token = null) =>
        new(new HubClientOptions { Endpoint = server.BaseUri, Token = token, ApiTimeout = TimeSpan.FromSeconds(30) });

    [Fact]
    public void The_rename_cassette_holds_a_relative_307_then_the_model_info()
    {
        var hub = Cassette.Load(RenameCassette).HubInteractions.ToList();

        Assert.Equal(2, hub.Count);
        Assert.Equal(307, hub[0].Response.Status.Code);
        Assert.Equal("/api/models/google-bert/bert-base-uncased", hub[0].Response.Header("Location"));
        Assert.Equal(200, hub[1].Response.Status.Code);
    }

    [Fact]
    public async Task Relative_307_for_a_renamed_repo_is_followed_and_the_real_model_info_parses()
    {
        await using var server = await ReplayServer.StartAsync();
        var replay = new CassetteReplay(Cassette.Load(RenameCassette).HubInteractions, server);
        server.Handler = replay.Answer;
        using var client = Client(server);

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("bert-base-uncased"), null);

        Assert.Equal("google-bert/bert-base-uncased", info.Id);
        Assert.Equal("621ffdc036468d709f174338", info.ObjectId);
        Assert.Equal("86b5e0934494bd15c9632b12f734a8a67f723594", info.Sha);
        Assert.Equal(16, info.Siblings!.Count);
        Assert.Contains(info.Siblings, s => s.RFilename == "config.json");
        Assert.Null(info.Gated);
        Assert.False(info.Disabled);
        Assert.False(info.Private);
        Assert.Equal(0, replay.Remaining);
        Assert.Equal(["/api/models/bert-base-uncased", "/api/models/google-bert/bert-base-uncased"], server.Requests.Select(r => r.Target));
    }

    [Fact]
    public async Task Relative_307_for_a_renamed_repo_is_followed_with_the_token()
    {
        await using var server = await ReplayServer.StartAsync();
        server.Handler = new CassetteReplay(Cassette.Load(RenameCassette).HubInteractions, server).Answer;
        using var client = Client(server, new AccessToken(Secret, TokenOrigin.HfTokenVariable));

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("bert-base-uncased"), null);

        Assert.Equal("86b5e0934494bd15c9632b12f734a8a67f723594", info.Sha);
        Assert.Collection(server.Requests,
            first => Assert.Equal($"Bearer {Secret}", first.Authorization),
            afterRedirect =>
            {
                Assert.Equal("/api/models/google-bert/bert-base-uncased", afterRedirect.Target);
                Assert.Equal($"Bearer {Secret}", afterRedirect.Authorization);
            });
    }

    [Fact]
    public async Task A_307_to_another_host_is_followed_without_the_token()
    {
        await using var server = await ReplayServer.StartAsync();
        // The same recorded 307, its Location made absolute on another host name (localhost instead of 127.0.0.1).
        var otherHost = server.UrlAs("localhost", "/api/models/google-bert/bert-base-uncased").AbsoluteUri;
        server.Handler = new CassetteReplay(Cassette.Load(RenameCassette).HubInteractions, server, _ => otherHost).Answer;
        using var client = Client(server, new AccessToken(Secret, TokenOrigin.HfTokenVariable));

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("bert-base-uncased"), null);

        Assert.Equal("86b5e0934494bd15c9632b12f734a8a67f723594", info.Sha);
        Assert.Collection(server.Requests,
            first =>
            {
                Assert.StartsWith("127.0.0.1:", first.Host, StringComparison.Ordinal);
                Assert.Equal($"Bearer {Secret}", first.Authorization);
            },
            other =>
            {
                Assert.StartsWith("localhost:", other.Host, StringComparison.Ordinal);
                Assert.Null(other.Authorization);
            });
    }

    [Fact]
    public async Task Another_real_rename_inside_one_organisation_is_followed()
    {
        await using var server = await ReplayServer.StartAsync();
        var hub = Cassette.Load("huggingface_hub-cassettes-deleted/test_openai_compatibility_without_base_url.yaml").HubInteractions.ToList();
        server.Handler = new CassetteReplay(hub, server).Answer;
        using var client = Client(server);

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("meta-llama/Meta-Llama-3.1-8B-Instruct"), null);

        Assert.Equal("meta-llama/Llama-3.1-8B-Instruct", info.Id);
        Assert.Equal("manual", info.Gated);
        Assert.Matches(CommitPattern(), info.Sha);
        Assert.NotEmpty(info.Siblings!);
    }

    public static IEnumerable<object[]> DeletedHubAnswers() =>
        Cassette.Load(DeletedInteractions).Interactions
            .Select((interaction, index) => (interaction, index))
            .Where(x => x.interaction.Response.Status.Code == 200)
            .Select(x => new object[] { x.index, x.interaction.Request.Uri.PathAndQuery });

    [Fact]
    public void The_gathered_deleted_cassette_holds_what_its_README_says()
    {
        var all = Cassette.Load(DeletedInteractions).Interactions;
        var ok = all.Where(i => i.Response.Status.Code == 200).ToList();

        Assert.Equal(55, all.Count);
        Assert.Equal(53, ok.Count);
        Assert.Equal(2, all.Count(i => i.Response.Status.Code == 307));
        Assert.Equal(40, ok.Count(i => i.Request.Uri.Query.Length == 0));
        Assert.Equal(13, ok.Count(i => i.Request.Uri.Query == "?expand=inferenceProviderMapping"));
        Assert.All(all, i => Assert.Equal("huggingface.co", i.Request.Uri.Host));
    }

    [Theory]
    [MemberData(nameof(DeletedHubAnswers))]
    public void Every_recorded_model_info_parses_as_RepoInfo(int index, string target)
    {
        var interaction = Cassette.Load(DeletedInteractions).Interactions[index];
        var info = JsonSerializer.Deserialize(interaction.Response.Body.Text!, HubJsonContext.Default.RepoInfo);

        Assert.NotNull(info);
        Assert.Equal(target.Split('?')[0]["/api/models/".Length..], info.Id);
        Assert.Matches("^[0-9a-f]{24}$", info.ObjectId);
        if (target.Contains('?', StringComparison.Ordinal))
        {
            // expand= trims the answer to _id, id and the fields asked for.
            Assert.Null(info.Sha);
            Assert.Null(info.Siblings);
            Assert.Null(info.Gated);
            return;
        }
        Assert.Matches(CommitPattern(), info.Sha);
        Assert.False(info.Private);
        Assert.False(info.Disabled);
        Assert.True(info.Gated is null or "manual", $"gated = {info.Gated}");
        Assert.NotNull(info.Siblings);
        Assert.All(info.Siblings, s => Assert.True(RepoFilePath.TryValidate(s.RFilename, out var problem), $"{s.RFilename}: {problem}"));
    }

    [Fact]
    public void Five_of_the_full_model_infos_are_gated_manual()
    {
        var gated = Cassette.Load(DeletedInteractions).Interactions
            .Where(i => i.Response.Status.Code == 200 && i.Request.Uri.Query.Length == 0)
            .Select(i => JsonSerializer.Deserialize(i.Response.Body.Text!, HubJsonContext.Default.RepoInfo)!)
            .Where(i => i.Gated is not null)
            .ToList();

        Assert.Equal(5, gated.Count);
        Assert.All(gated, i => Assert.Equal("manual", i.Gated));
        Assert.All(gated, i => Assert.StartsWith("meta-llama/", i.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_recorded_full_model_info_replays_through_HubClient()
    {
        var full = Cassette.Load(DeletedInteractions).Interactions
            .Where(i => i.Response.Status.Code == 200 && i.Request.Uri.Query.Length == 0)
            .ToList();
        await using var server = await ReplayServer.StartAsync();
        using var client = Client(server, new AccessToken(Secret, TokenOrigin.HfTokenVariable));

        foreach (var interaction in full)
        {
            server.Handler = new CassetteReplay([interaction], server).Answer;
            var id = RepoId.Parse(interaction.Request.Uri.AbsolutePath["/api/models/".Length..]);

            var info = await client.GetRepoInfoAsync(RepoType.Model, id, null);

            Assert.Equal(id.Value, info.Id);
            Assert.Matches(CommitPattern(), info.Sha);
        }
        Assert.Equal(40, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal($"Bearer {Secret}", r.Authorization));
    }

    [Fact]
    public async Task The_recorded_t5_rename_replays_to_the_new_name()
    {
        var all = Cassette.Load(DeletedInteractions).Interactions;
        var pair = all.Where(i => i.Request.Uri.AbsolutePath is "/api/models/t5-small" or "/api/models/google-t5/t5-small").Take(2).ToList();
        await using var server = await ReplayServer.StartAsync();
        server.Handler = new CassetteReplay(pair, server).Answer;
        using var client = Client(server);

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("t5-small"), null);

        Assert.Equal("google-t5/t5-small", info.Id);
    }

    [Theory]
    [InlineData("huggingface_hub-cassettes/TestSpaceAPIProduction.test_space_runtime.yaml")]
    [InlineData("huggingface_hub-cassettes/TestSpaceAPIProduction.test_manage_secrets.yaml")]
    [InlineData("huggingface_hub-cassettes-deleted/TestInferenceClient.test_chat_completion_no_stream.hyperbolic.conversational.yaml")]
    public void An_expand_trimmed_answer_parses_with_only_id_fields(string cassette)
    {
        var trimmed = Cassette.Load(cassette).HubInteractions
            .Where(i => i.Response.Status.Code == 200 && i.Request.Uri.Query.StartsWith("?expand=", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(trimmed);

        foreach (var interaction in trimmed)
        {
            var info = JsonSerializer.Deserialize(interaction.Response.Body.Text!, HubJsonContext.Default.RepoInfo)!;
            Assert.False(string.IsNullOrEmpty(info.Id));
            Assert.Null(info.Sha);
            Assert.Null(info.Siblings);
        }
    }

    [Theory]
    [InlineData("huggingface_hub-cassettes/InferenceApiTest.test_inference_missing_input.yaml", "deepset/roberta-base-squad2")]
    [InlineData("huggingface_hub-cassettes/InferenceApiTest.test_inference_overriding_task.yaml", "sentence-transformers/paraphrase-albert-small-v2")]
    [InlineData("huggingface_hub-cassettes/InferenceApiTest.test_text_to_image.yaml", "stabilityai/stable-diffusion-2-1")]
    public async Task Other_recorded_model_infos_replay_through_HubClient(string cassette, string id)
    {
        await using var server = await ReplayServer.StartAsync();
        server.Handler = new CassetteReplay(Cassette.Load(cassette).HubInteractions, server).Answer;
        using var client = Client(server);

        var info = await client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse(id), null);

        Assert.Equal(id, info.Id);
        Assert.Matches(CommitPattern(), info.Sha);
        Assert.NotEmpty(info.Siblings!);
    }

    [Fact]
    public void A_space_runtime_cassette_409_maps_to_a_HubException_quoting_the_Hub()
    {
        var conflict = Cassette.Load("huggingface_hub-cassettes/TestSpaceAPIProduction.test_manage_secrets.yaml").HubInteractions
            .First(i => i.Response.Status.Code == 409);
        using var response = new HttpResponseMessage((System.Net.HttpStatusCode)409);
        foreach (var (name, values) in conflict.Response.Headers)
        {
            response.Headers.TryAddWithoutValidation(name, values);
        }

        var ex = HubErrorMapper.Create(response.StatusCode, response.Headers, conflict.Response.Body.Text,
            new HubRequestContext(RepoType.Space, RepoId.Parse("user/tmp_test_space"), null, null, null, "https://huggingface.co"));

        Assert.Equal(typeof(HubException), ex.GetType());
        Assert.Equal("You already created this space repo", ex.ServerMessage);
        Assert.Contains("(Request ID: ", ex.Message, StringComparison.Ordinal);
    }
}
