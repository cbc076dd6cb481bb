using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>The hub listener: the API routes of hub-api.md §2 and the file routes of §4.</summary>
internal sealed partial class HubHandler(HubState state)
{
    internal static readonly IReadOnlySet<string> ApiKeywords =
        new HashSet<string>(StringComparer.Ordinal) { "revision", "tree", "paths-info", "refs", "xet-read-token", "commits", "treesize" };

    internal static readonly IReadOnlySet<string> FileKeywords =
        new HashSet<string>(StringComparer.Ordinal) { "resolve", "raw", "blob", "tree" };

    public async Task HandleAsync(HttpContext http)
    {
        var request = new HubRequest(http, state, "hub");
        await RequestRunner.RunAsync(request, RouteAsync).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers a request that another handler (the mirror) took in and gave its own store (<see cref="HubRequest.Store"/>):
    /// the same routes, shapes and errors as this hub's own listener.
    /// </summary>
    public Task ServeAsync(HubRequest request, CancellationToken cancellationToken) => RouteAsync(request, cancellationToken);

    private async Task RouteAsync(HubRequest request, CancellationToken cancellationToken)
    {
        request.SetCommonHeaders();
        request.Authenticate();
        var segments = request.Segments;
        var isApi = segments.Length > 0 && segments[0] == "api";
        request.Faults = state.Options.Faults;

        if (request.HasInvalidToken)
        {
            await request.WriteErrorAsync(401, "Invalid credentials in Authorization header", null, isApi, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (isApi && segments.Length >= 2)
        {
            switch (segments[1])
            {
                case "whoami-v2":
                    request.SetRateLimitHeaders("api");
                    await WhoAmIAsync(request, cancellationToken).ConfigureAwait(false);
                    return;
                case "resolve-cache" when segments.Length >= 3 && ApiType(segments[2]) is { } cacheType:
                    request.SetRateLimitHeaders("resolvers");
                    await ResolveCacheAsync(request, cacheType, cancellationToken).ConfigureAwait(false);
                    return;
                default:
                    // "/api/models" alone is the Hub's search, which this server does not offer: a 404 below, not a crash.
                    if (ApiType(segments[1]) is { } type && segments.Length >= 3)
                    {
                        request.SetRateLimitHeaders("api");
                        await ApiRepoRouteAsync(request, type, cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    break;
            }
        }
        else if (!isApi && segments.Length >= 3)
        {
            var (type, start) = segments[0] switch
            {
                "datasets" => (RepoType.Dataset, 1),
                "spaces" => (RepoType.Space, 1),
                _ => (RepoType.Model, 0),
            };
            var route = RepoRoute.Parse(request.Store, type, segments, request.RawSegments, start, FileKeywords);
            if (route is { Rest.Length: >= 3 } && route.Rest[0] is "resolve" or "raw")
            {
                request.SetRateLimitHeaders("resolvers");
                await FileRouteAsync(request, route, cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        request.SetRateLimitHeaders("pages");
        await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, isApi, cancellationToken).ConfigureAwait(false);
    }

    internal static RepoType? ApiType(string segment) => segment switch
    {
        "models" => RepoType.Model,
        "datasets" => RepoType.Dataset,
        "spaces" => RepoType.Space,
        _ => null,
    };

    private async Task ApiRepoRouteAsync(HubRequest request, RepoType type, CancellationToken cancellationToken)
    {
        var route = RepoRoute.Parse(request.Store, type, request.Segments, request.RawSegments, 2, ApiKeywords)!;
        if (!await CheckRepoAsync(request, route, bytes: false, json: true, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var repo = route.Repo!;
        var rest = route.Rest;
        var method = request.Http.Request.Method;
        var isRead = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);

        if (rest.Length == 0)
        {
            if (isRead)
            {
                await RepoInfoAsync(request, repo, HostedRepo.DefaultBranch, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await request.WriteErrorAsync(405, "Method not allowed", null, json: true, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (rest[0] == "revision" && rest.Length >= 2 && isRead)
        {
            await RepoInfoAsync(request, repo, string.Join('/', rest[1..]), cancellationToken).ConfigureAwait(false);
        }
        else if (rest[0] == "tree" && rest.Length >= 2 && isRead)
        {
            var (revision, next) = route.ReadRevision(1);
            await TreeAsync(request, repo, revision, string.Join('/', rest[next..]), cancellationToken).ConfigureAwait(false);
        }
        else if (rest[0] == "paths-info" && rest.Length >= 2 && HttpMethods.IsPost(method))
        {
            await PathsInfoAsync(request, repo, string.Join('/', rest[1..]), cancellationToken).ConfigureAwait(false);
        }
        else if (rest[0] == "refs" && rest.Length == 1 && isRead)
        {
            await RefsAsync(request, repo, cancellationToken).ConfigureAwait(false);
        }
        else if (rest[0] == "xet-read-token" && rest.Length >= 2 && isRead)
        {
            await XetReadTokenAsync(request, repo, route.ReadRevision(1).Revision, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, json: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Answers for a missing, renamed, private, disabled or (for bytes) gated repo, per hub-api.md §5.1. Returns
    /// true when the request may go on.
    /// </summary>
    private async Task<bool> CheckRepoAsync(HubRequest request, RepoRoute route, bool bytes, bool json, CancellationToken cancellationToken)
    {
        var repo = route.Repo;
        if (repo is null)
        {
            await RepoNotFoundAsync(request, json, cancellationToken).ConfigureAwait(false);
            return false;
        }
        request.Faults = repo.Settings.Faults ?? state.Options.Faults;
        if (!await state.Faults.BeforeResponseAsync(request, bytes ? FaultTargets.Resolve : FaultTargets.Api, json, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        if (repo.Settings.RenamedTo is { } newId)
        {
            var raw = request.RawSegments;
            var location = "/" + string.Join('/', raw[..route.IdStart].Append(newId).Concat(route.RawRest))
                + (request.RawQuery.Length > 0 ? "?" + request.RawQuery : "");
            await request.WriteRedirectAsync(307, location, cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (repo.Settings.Private && !IsAllowedPrivate(request, repo))
        {
            await RepoNotFoundAsync(request, json, cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (repo.Settings.Disabled)
        {
            await request.WriteErrorAsync(403, "Access to this resource is disabled.", null, json, cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (bytes && !await CheckGateAsync(request, repo, json, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        return true;
    }

    /// <summary>Whether the caller may read a gated repo's bytes: its owner, or an approved token (always, if not gated).</summary>
    private static bool PassesGate(HubRequest request, HostedRepo repo) =>
        repo.Settings.Gated == GatedMode.None || IsOwner(request.User, repo)
        || (request.Token is { } token && repo.Settings.ApprovedTokens.Contains(token));

    /// <summary>Answers 401/403 <c>GatedRepo</c> when the caller may not read the repo's bytes; true when it may.</summary>
    private static async Task<bool> CheckGateAsync(HubRequest request, HostedRepo repo, bool json, CancellationToken cancellationToken)
    {
        if (!PassesGate(request, repo))
        {
            var kind = repo.Type.Name();
            var page = $"{request.Http.Request.Scheme}://{request.Http.Request.Host}/{repo.Type.FilePrefix()}{repo.Id}";
            if (request.User is null)
            {
                await request.WriteErrorAsync(
                    401,
                    $"Access to {kind} {repo.Id} is restricted. You must have access to it and be authenticated to access it. Please log in.",
                    "GatedRepo",
                    json,
                    cancellationToken).ConfigureAwait(false);
            }
            else if (repo.Settings.PendingTokens.Contains(request.Token!))
            {
                await request.WriteErrorAsync(
                    403,
                    $"Your request to access {kind} {repo.Id} is awaiting a review from the repo authors.",
                    "GatedRepo",
                    json,
                    cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await request.WriteErrorAsync(
                    403,
                    $"Access to {kind} {repo.Id} is restricted and you are not in the authorized list. Visit {page} to ask for access.",
                    "GatedRepo",
                    json,
                    cancellationToken).ConfigureAwait(false);
            }
            return false;
        }
        return true;
    }

    private static bool IsOwner(HubUser? user, HostedRepo repo)
    {
        var owner = repo.Id.Contains('/') ? repo.Id[..repo.Id.IndexOf('/')] : null;
        return user is not null && owner is not null
            && (string.Equals(user.Name, owner, StringComparison.OrdinalIgnoreCase)
                || user.Orgs.Contains(owner, StringComparer.OrdinalIgnoreCase));
    }

    private static bool IsAllowedPrivate(HubRequest request, HostedRepo repo) =>
        IsOwner(request.User, repo) || (request.Token is { } token && repo.Settings.AllowedTokens.Contains(token));

    /// <summary>Without a token the Hub will not say whether the repo exists: 401. With a valid token: 404.</summary>
    private static Task RepoNotFoundAsync(HubRequest request, bool json, CancellationToken cancellationToken)
    {
        if (request.User is null)
        {
            request.Response.Headers.WWWAuthenticate = "Bearer realm=\"Authentication required\", charset=\"UTF-8\"";
            // The real Hub has dropped X-Error-Code here (hub-api.md §5.1); huggingface_hub needs it over plain http
            // (§5.2), hence the option to send it as the Hub once did.
            var code = request.State.Options.RepoNotFoundCodeOn401 ? "RepoNotFound" : null;
            return request.WriteErrorAsync(401, "Invalid username or password.", code, json, cancellationToken);
        }
        return request.WriteErrorAsync(404, "Repository not found", "RepoNotFound", json, cancellationToken);
    }

    /// <summary>Finds the ref or commit a revision names: a ref, <c>HEAD</c>, a full commit id, or a unique prefix of 7+ hex.</summary>
    internal static RepoSnapshot? FindSnapshot(HostedRepo repo, string revision)
    {
        if (revision == "HEAD")
        {
            revision = HostedRepo.DefaultBranch;
        }
        var named = repo.Revisions.FirstOrDefault(r => r.Name == revision);
        if (named is not null)
        {
            return named.Snapshot;
        }
        if (revision.Length is >= 7 and <= 40 && revision.All(char.IsAsciiHexDigitLower))
        {
            var matches = repo.Revisions.Select(r => r.Snapshot).Distinct()
                .Where(s => s.CommitId.StartsWith(revision, StringComparison.Ordinal)).ToList();
            return matches.Count == 1 ? matches[0] : null;
        }
        return null;
    }

    private static Task RevisionNotFoundAsync(HubRequest request, string revision, bool json, CancellationToken cancellationToken) =>
        request.WriteErrorAsync(404, $"Invalid rev id: {revision}", "RevisionNotFound", json, cancellationToken);

    private async Task WhoAmIAsync(HubRequest request, CancellationToken cancellationToken)
    {
        if (request.User is not { } user)
        {
            request.Response.Headers.WWWAuthenticate = "Bearer realm=\"Authentication required\", charset=\"UTF-8\"";
            await request.WriteErrorAsync(401, "Invalid username or password.", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartObject();
            if (user.IsOrganization)
            {
                // An organisation's token: the Hub answers with the organisation itself, which has no email of its own
                // and belongs to no organisations, so "orgs" is absent (huggingface.js ApiWhoAmIOrg).
                w.WriteString("type", "org");
                w.WriteString("id", HubIds.ObjectId("org/" + user.Name));
                w.WriteString("name", user.Name);
                w.WriteString("fullname", user.Name);
                w.WriteNull("email");
                w.WriteBoolean("canPay", false);
                w.WriteNull("periodEnd");
                w.WriteString("avatarUrl", "/avatars/" + HubIds.ObjectId("avatar/" + user.Name) + ".svg");
                WriteAuth(w);
                w.WriteEndObject();
                return;
            }
            w.WriteString("type", "user");
            w.WriteString("id", HubIds.ObjectId("user/" + user.Name));
            w.WriteString("name", user.Name);
            w.WriteString("fullname", user.Name);
            w.WriteString("email", user.Name + "@example.com");
            w.WriteBoolean("emailVerified", true);
            w.WriteBoolean("canPay", false);
            w.WriteBoolean("isPro", false);
            w.WriteNull("periodEnd");
            w.WriteString("avatarUrl", "/avatars/" + HubIds.ObjectId("avatar/" + user.Name) + ".svg");
            w.WriteStartArray("orgs");
            foreach (var org in user.Orgs)
            {
                w.WriteStartObject();
                w.WriteString("type", "org");
                w.WriteString("id", HubIds.ObjectId("org/" + org));
                w.WriteString("name", org);
                w.WriteString("fullname", org);
                w.WriteString("roleInOrg", "read");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteAuth(w);
            w.WriteEndObject();
        }, cancellationToken).ConfigureAwait(false);

        static void WriteAuth(Utf8JsonWriter w)
        {
            w.WriteStartObject("auth");
            w.WriteString("type", "access_token");
            w.WriteStartObject("accessToken");
            w.WriteString("displayName", "hfdl-test");
            w.WriteString("role", "read");
            w.WriteString("createdAt", "2025-01-01T00:00:00.000Z");
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static readonly string[] InfoFields =
    [
        "author", "sha", "lastModified", "private", "gated", "disabled", "downloads", "likes", "tags", "library_name",
        "siblings", "spaces", "createdAt", "usedStorage", "xetEnabled", "downloadsAllTime", "trendingScore", "sdk",
    ];

    private async Task RepoInfoAsync(HubRequest request, HostedRepo repo, string revision, CancellationToken cancellationToken)
    {
        var snapshot = FindSnapshot(repo, revision);
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, revision, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var index = snapshot.Index;
        var expand = request.Query["expand"].Concat(request.Query["expand[]"])
            .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)).ToHashSet(StringComparer.Ordinal);
        bool Wants(string field) => expand.Count == 0 || expand.Contains(field);
        var blobs = request.QueryFlag("blobs");
        var settings = repo.Settings;

        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("_id", repo.ObjectId);
            w.WriteString("id", repo.Id);
            if (Wants("private"))
            {
                w.WriteBoolean("private", settings.Private);
            }
            if (Wants("pipeline_tag") && settings.PipelineTag is not null)
            {
                w.WriteString("pipeline_tag", settings.PipelineTag);
            }
            if (Wants("library_name") && settings.LibraryName is not null)
            {
                w.WriteString("library_name", settings.LibraryName);
            }
            if (Wants("tags"))
            {
                w.WriteStartArray("tags");
                foreach (var tag in settings.Tags)
                {
                    w.WriteStringValue(tag);
                }
                w.WriteEndArray();
            }
            if (Wants("downloads"))
            {
                w.WriteNumber("downloads", settings.Downloads);
            }
            if (Wants("likes"))
            {
                w.WriteNumber("likes", settings.Likes);
            }
            if (expand.Count == 0 && repo.Type == RepoType.Model)
            {
                w.WriteString("modelId", repo.Id);
            }
            if (Wants("author"))
            {
                w.WriteString("author", repo.Id.Contains('/') ? repo.Id[..repo.Id.IndexOf('/')] : repo.Id);
            }
            if (Wants("sha"))
            {
                w.WriteString("sha", index.CommitId);
            }
            if (Wants("lastModified"))
            {
                w.WriteString("lastModified", HubRequest.IsoDate(snapshot.Date));
            }
            if (Wants("gated"))
            {
                if (settings.Gated == GatedMode.None)
                {
                    w.WriteBoolean("gated", false);
                }
                else
                {
                    w.WriteString("gated", settings.Gated == GatedMode.Auto ? "auto" : "manual");
                }
            }
            if (Wants("disabled"))
            {
                w.WriteBoolean("disabled", settings.Disabled);
            }
            if (expand.Count == 0 && request.QueryFlag("securityStatus"))
            {
                w.WriteStartObject("securityRepoStatus");
                w.WriteBoolean("scansDone", true);
                w.WriteStartArray("filesWithIssues");
                w.WriteEndArray();
                w.WriteEndObject();
            }
            if (expand.Contains("sdk") && repo.Type == RepoType.Space)
            {
                w.WriteString("sdk", "static");
            }
            if (Wants("siblings"))
            {
                w.WriteStartArray("siblings");
                foreach (var file in index.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("rfilename", file.Path);
                    if (blobs)
                    {
                        var (size, oid, sha256) = Advertised(file, request.Faults.Hostile);
                        w.WriteString("blobId", oid);
                        w.WriteNumber("size", size);
                        if (file.IsLfs)
                        {
                            w.WriteStartObject("lfs");
                            w.WriteString("sha256", sha256);
                            w.WriteNumber("size", size);
                            w.WriteNumber("pointerSize", file.PointerSize);
                            w.WriteEndObject();
                        }
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            if (Wants("spaces"))
            {
                w.WriteStartArray("spaces");
                w.WriteEndArray();
            }
            if (Wants("createdAt"))
            {
                w.WriteString("createdAt", HubRequest.IsoDate(settings.CreatedAt));
            }
            if (Wants("usedStorage"))
            {
                w.WriteNumber("usedStorage", index.TotalSize);
            }
            if (expand.Contains("xetEnabled"))
            {
                w.WriteBoolean("xetEnabled", state.Xet.IsXet(repo));
            }
            if (expand.Contains("downloadsAllTime"))
            {
                w.WriteNumber("downloadsAllTime", settings.Downloads * 10);
            }
            if (expand.Contains("trendingScore"))
            {
                w.WriteNumber("trendingScore", 0);
            }
            w.WriteEndObject();
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task RefsAsync(HubRequest request, HostedRepo repo, CancellationToken cancellationToken)
    {
        var includePrs = request.QueryFlag("include_prs");
        void WriteRefs(Utf8JsonWriter w, string name, RevisionKind kind, Func<string, (string Name, string Ref)> describe)
        {
            w.WriteStartArray(name);
            foreach (var revision in repo.Revisions.Where(r => r.Kind == kind))
            {
                var (shortName, fullRef) = describe(revision.Name);
                w.WriteStartObject();
                w.WriteString("name", shortName);
                w.WriteString("ref", fullRef);
                w.WriteString("targetCommit", revision.Snapshot.CommitId);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartObject();
            // Key order and short names as the Hub sends them: a PR's name is its number ("187" for refs/pr/187).
            WriteRefs(w, "tags", RevisionKind.Tag, n => (n, "refs/tags/" + n));
            WriteRefs(w, "branches", RevisionKind.Branch, n => (n, "refs/heads/" + n));
            WriteRefs(w, "converts", RevisionKind.Convert, n => (Strip(n, "refs/convert/"), "refs/convert/" + Strip(n, "refs/convert/")));
            if (includePrs)
            {
                WriteRefs(w, "pullRequests", RevisionKind.PullRequest, n => (Strip(n, "refs/pr/"), "refs/pr/" + Strip(n, "refs/pr/")));
            }
            w.WriteEndObject();
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What listings say about a file: the truth, unless hostile faults say otherwise.</summary>
    internal static (long Size, string Oid, string? Sha256) Advertised(IndexedFile file, HostileFaults? hostile) =>
        hostile is null
            ? (file.Size, file.Oid, file.Sha256)
            : (hostile.ListedSize ?? file.Size + hostile.ListedSizeDelta,
               hostile.WrongHashes ? Tamper(file.Oid) : file.Oid,
               hostile.WrongHashes && file.Sha256 is not null ? Tamper(file.Sha256) : file.Sha256);

    /// <summary>A well-formed hash that is not the right one: the last hex digit changed.</summary>
    internal static string Tamper(string hex) => hex[..^1] + (hex[^1] == '0' ? '1' : '0');

    private static string Strip(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;

    /// <param name="securityStatus">With <paramref name="expand"/>, add <c>securityFileStatus</c>: tree pages do; paths-info
    /// stopped returning it on 2026-02-03 (fixtures/real-hub/huggingface.js/bert-base-uncased.paths-info.json).</param>
    private static void WriteEntry(Utf8JsonWriter w, object entry, RepoSnapshot snapshot, bool expand, HostileFaults? hostile, Func<IndexedFile, string?> xetHash, bool securityStatus = true)
    {
        w.WriteStartObject();
        if (entry is IndexedFile file)
        {
            var (size, oid, sha256) = Advertised(file, hostile);
            w.WriteString("type", "file");
            w.WriteString("oid", oid);
            w.WriteNumber("size", size);
            if (file.IsLfs)
            {
                w.WriteStartObject("lfs");
                w.WriteString("oid", sha256);
                w.WriteNumber("size", size);
                w.WriteNumber("pointerSize", file.PointerSize);
                w.WriteEndObject();
            }
            if (xetHash(file) is { } xet)
            {
                w.WriteString("xetHash", xet);
            }
            w.WriteString("path", file.Path);
        }
        else
        {
            var directory = (IndexedDirectory)entry;
            w.WriteString("type", "directory");
            w.WriteString("oid", directory.Oid);
            w.WriteNumber("size", 0);
            w.WriteString("path", directory.Path);
        }
        if (expand)
        {
            w.WriteStartObject("lastCommit");
            w.WriteString("id", snapshot.CommitId);
            w.WriteString("title", snapshot.Title);
            w.WriteString("date", HubRequest.IsoDate(snapshot.Date));
            w.WriteEndObject();
            if (entry is IndexedFile && securityStatus)
            {
                w.WriteStartObject("securityFileStatus");
                w.WriteString("status", "safe");
                w.WriteEndObject();
            }
        }
        w.WriteEndObject();
    }

    private async Task TreeAsync(HubRequest request, HostedRepo repo, string revision, string path, CancellationToken cancellationToken)
    {
        var snapshot = FindSnapshot(repo, revision);
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, revision, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var index = snapshot.Index;
        path = path.Trim('/');
        if (path.Length > 0 && index.FindDirectory(path) is null)
        {
            request.Response.Headers["X-Repo-Commit"] = index.CommitId;
            await request.WriteErrorAsync(404, $"Entry not found: {path}", "EntryNotFound", json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var expand = request.QueryFlag("expand");
        var recursive = request.QueryFlag("recursive");
        var pageSize = expand ? state.Options.TreePageSizeExpanded : state.Options.TreePageSize;
        if (int.TryParse(request.Query["limit"], out var limit) && limit > 0)
        {
            pageSize = Math.Min(pageSize, limit);
        }
        var start = 0;
        if (request.Query["cursor"] is { Count: > 0 } cursorValues)
        {
            if (!TreeCursor.TryRead(cursorValues.ToString(), index.CommitId, out start))
            {
                await request.WriteErrorAsync(400, "Invalid cursor", null, json: true, cancellationToken).ConfigureAwait(false);
                return;
            }
        }
        var entries = index.List(path, recursive);
        var hostile = request.Faults.Hostile;
        if (hostile is { EndlessPagination: true })
        {
            await EndlessPageAsync(request, snapshot, entries, start, pageSize, expand, hostile, cancellationToken).ConfigureAwait(false);
            return;
        }
        var page = entries.Skip(hostile is { RepeatingPagination: true } ? 0 : start).Take(pageSize).ToList();
        if (hostile is { RepeatingPagination: true })
        {
            // The first entries again, behind a link never seen before.
            request.Response.Headers["Link"] = $"<{NextPageUrl(request, TreeCursor.Write(start + 1, index.CommitId))}>; rel=\"next\"";
        }
        else if (hostile is { PaginationLoop: true } && request.Query["cursor"].Count > 0)
        {
            // A next link the client has already followed: this very page.
            var http = request.Http.Request;
            request.Response.Headers["Link"] = $"<{http.Scheme}://{http.Host}{request.RawTarget}>; rel=\"next\"";
        }
        else if (start + page.Count < entries.Count || hostile is { PaginationLoop: true })
        {
            var cursor = TreeCursor.Write(Math.Min(start + page.Count, entries.Count), index.CommitId);
            // The real next link names every parameter itself, whatever the client sent (hub-api.md §2.2):
            // ?expand=false&recursive=true&limit=1000&cursor=…
            var http = request.Http.Request;
            var next = $"{http.Scheme}://{http.Host}{request.RawPath}?expand={(expand ? "true" : "false")}&recursive={(recursive ? "true" : "false")}"
                + $"&limit={pageSize.ToString(CultureInfo.InvariantCulture)}&cursor={Uri.EscapeDataString(cursor)}";
            request.Response.Headers["Link"] = $"<{next}>; rel=\"next\"";
        }
        if (hostile is { GiganticJsonBytes: { } gigantic })
        {
            await GiganticListingAsync(request, gigantic, cancellationToken).ConfigureAwait(false);
            return;
        }
        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartArray();
            foreach (var entry in page)
            {
                WriteEntry(w, entry, snapshot, expand, request.Faults.Hostile, file => XetHashOf(request, repo, file, redact: true));
            }
            w.WriteEndArray();
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A page of a listing that never ends: the real entries first, then made-up files, and always a link to a page
    /// not seen before (with <see cref="HostileFaults.EndlessLinkPadding"/>, an ever longer one).
    /// </summary>
    private static async Task EndlessPageAsync(HubRequest request, RepoSnapshot snapshot, IReadOnlyList<object> entries, int start, int pageSize, bool expand, HostileFaults hostile, CancellationToken cancellationToken)
    {
        var next = start + pageSize;
        var pageNumber = next / pageSize;
        var url = NextPageUrl(request, TreeCursor.Write(next, snapshot.Index.CommitId), "pad");
        if (hostile.EndlessLinkPadding > 0)
        {
            url += "&pad=" + new string('p', (int)Math.Min(1_000_000, (long)pageNumber * hostile.EndlessLinkPadding));
        }
        request.Response.Headers["Link"] = $"<{url}>; rel=\"next\"";
        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartArray();
            for (var i = start; i < next; i++)
            {
                if (i < entries.Count)
                {
                    WriteEntry(w, entries[i], snapshot, expand, hostile, _ => null);
                    continue;
                }
                w.WriteStartObject();
                w.WriteString("type", "file");
                w.WriteString("oid", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
                w.WriteNumber("size", 0);
                w.WriteString("path", string.Create(CultureInfo.InvariantCulture, $"endless/{start}/{i - start}.bin"));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A valid JSON listing of about <paramref name="bytes"/> bytes, streamed: one entry with a huge string.</summary>
    private static async Task GiganticListingAsync(HubRequest request, long bytes, CancellationToken cancellationToken)
    {
        var head = Encoding.UTF8.GetBytes("[{\"type\":\"file\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1,\"path\":\"padding.txt\",\"padding\":\"");
        var tail = Encoding.UTF8.GetBytes("\"}]");
        var padding = Math.Max(0, bytes - head.Length - tail.Length);
        request.Response.StatusCode = 200;
        request.Response.ContentType = "application/json; charset=utf-8";
        request.Response.ContentLength = head.Length + padding + tail.Length;
        if (request.IsHead)
        {
            return;
        }
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'a');
        await request.Response.Body.WriteAsync(head, cancellationToken).ConfigureAwait(false);
        for (var left = padding; left > 0;)
        {
            var n = (int)Math.Min(chunk.Length, left);
            await request.Response.Body.WriteAsync(chunk.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            request.BodyBytesSent += n;
            left -= n;
        }
        await request.Response.Body.WriteAsync(tail, cancellationToken).ConfigureAwait(false);
        request.BodyBytesSent += head.Length + tail.Length;
    }

    /// <summary>The absolute URL of the next page: the request's own URL with every parameter kept and the cursor replaced.</summary>
    private static string NextPageUrl(HubRequest request, string cursor, string? drop = null)
    {
        var parameters = request.RawQuery.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(p => !p.StartsWith("cursor=", StringComparison.Ordinal) && p != "cursor" && (drop is null || !p.StartsWith(drop + "=", StringComparison.Ordinal)))
            .Append("cursor=" + Uri.EscapeDataString(cursor));
        var http = request.Http.Request;
        return $"{http.Scheme}://{http.Host}{request.RawPath}?{string.Join('&', parameters)}";
    }

    private async Task PathsInfoAsync(HubRequest request, HostedRepo repo, string revision, CancellationToken cancellationToken)
    {
        var snapshot = FindSnapshot(repo, revision);
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, revision, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var paths = new List<string>();
        var expand = false;
        var http = request.Http.Request;
        if (http.HasFormContentType)
        {
            var form = await http.ReadFormAsync(cancellationToken).ConfigureAwait(false);
            paths.AddRange(form["paths"].Concat(form["paths[]"]).OfType<string>());
            expand = form["expand"].Any(HubRequest.ParseBool);
        }
        else
        {
            try
            {
                using var document = await JsonDocument.ParseAsync(http.Body, default, cancellationToken).ConfigureAwait(false);
                var root = document.RootElement;
                if (root.TryGetProperty("paths", out var list))
                {
                    paths.AddRange(list.ValueKind == JsonValueKind.Array
                        ? list.EnumerateArray().Select(e => e.GetString() ?? "")
                        : [list.GetString() ?? ""]);
                }
                if (root.TryGetProperty("expand", out var flag))
                {
                    expand = flag.ValueKind == JsonValueKind.True
                        || (flag.ValueKind == JsonValueKind.String && HubRequest.ParseBool(flag.GetString()));
                }
            }
            catch (JsonException)
            {
                await request.WriteErrorAsync(400, "Invalid JSON body: expected {\"paths\": [...]}", null, json: true, cancellationToken).ConfigureAwait(false);
                return;
            }
        }
        var index = snapshot.Index;
        await request.WriteJsonAsync(200, w =>
        {
            w.WriteStartArray();
            foreach (var path in paths.Select(p => p.Trim('/')).Distinct(StringComparer.Ordinal))
            {
                object? entry = (object?)index.FindFile(path) ?? index.FindDirectory(path);
                if (entry is not null)
                {
                    WriteEntry(w, entry, snapshot, expand, request.Faults.Hostile, file => XetHashOf(request, repo, file, redact: false), securityStatus: false);
                }
            }
            w.WriteEndArray();
        }, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The opaque tree cursor: base64 of the next index and the commit it belongs to.</summary>
internal static class TreeCursor
{
    public static string Write(int index, string commitId) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{{\"file_index\":{index},\"tree_oid\":\"{commitId}\"}}"));

    public static bool TryRead(string cursor, string commitId, out int index)
    {
        index = 0;
        try
        {
            using var document = JsonDocument.Parse(Convert.FromBase64String(cursor));
            return document.RootElement.GetProperty("tree_oid").GetString() == commitId
                && document.RootElement.GetProperty("file_index").TryGetInt32(out index) && index >= 0;
        }
        catch (Exception ex) when (ex is FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }
}
