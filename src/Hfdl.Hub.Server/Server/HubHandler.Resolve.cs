using System.Globalization;
using System.Text;

namespace Hfdl.Hub.Server;

internal sealed partial class HubHandler
{
    internal static readonly IReadOnlySet<string> NoKeywords = new HashSet<string>();

    /// <summary><c>HEAD|GET /{p}{id}/resolve|raw/{rev}/{path}</c> (hub-api.md §4).</summary>
    private async Task FileRouteAsync(HubRequest request, RepoRoute route, CancellationToken cancellationToken)
    {
        if (!HttpMethods.IsGet(request.Http.Request.Method) && !request.IsHead)
        {
            await request.WriteErrorAsync(405, "Method not allowed", null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!await CheckRepoAsync(request, route, bytes: true, json: false, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var repo = route.Repo!;
        var isRaw = route.Rest[0] == "raw";
        var (revision, next) = route.ReadRevision(1);
        var path = string.Join('/', route.Rest[next..]);
        var snapshot = FindSnapshot(repo, revision);
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, revision, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        var index = snapshot.Index;
        var headers = request.Response.Headers;
        headers["X-Repo-Commit"] = index.CommitId;
        headers.AcceptRanges = "bytes";
        var file = index.FindFile(path);
        if (file is null || request.Faults.UnservableFiles.Contains(file.Path))
        {
            await request.WriteErrorAsync(404, "Entry not found", "EntryNotFound", json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        var hostile = request.Faults.Hostile;
        if (hostile is { RedirectLoop: true } || (hostile is { RedirectHops: > 0 } && !isRaw))
        {
            var hop = int.TryParse(request.Query["hfdl_hop"], out var h) ? h : 0;
            if (hostile.RedirectLoop || hop < hostile.RedirectHops)
            {
                var query = string.Join('&', request.RawQuery.Split('&', StringSplitOptions.RemoveEmptyEntries)
                    .Where(p => !p.StartsWith("hfdl_hop=", StringComparison.Ordinal))
                    .Append(hostile.RedirectLoop ? "hfdl_hop=0" : "hfdl_hop=" + (hop + 1).ToString(CultureInfo.InvariantCulture)));
                await request.WriteRedirectAsync(302, request.RawPath + "?" + query, cancellationToken).ConfigureAwait(false);
                return;
            }
        }
        var etag = HubRequest.Quote(hostile is { WrongHashes: true } ? Tamper(file.Etag) : file.Etag);
        var fileName = file.Path[(file.Path.LastIndexOf('/') + 1)..];
        headers.ContentDisposition = HubState.ContentDisposition(fileName);
        var fileKey = repo.ObjectId + "/" + file.Etag;

        if (isRaw)
        {
            // The raw git blob: for an LFS file, its pointer text (hub-api.md §2.5).
            var blob = file.IsLfs ? FileContent.FromText(HubIds.LfsPointer(file.Sha256!, file.Size)) : file.File.Content;
            await ContentSender.ServeAsync(request, blob, HubRequest.Quote(file.Oid), "text/plain; charset=utf-8", fileKey + "/raw", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (await XetResolveAsync(request, repo, file, index.CommitId, etag, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var mode = file.File.ResolveMode ?? repo.Settings.ResolveMode;
        if (mode == ResolveMode.Realistic)
        {
            mode = file.IsLfs ? ResolveMode.Cdn : ResolveMode.Cache;
        }
        switch (mode)
        {
            case ResolveMode.Direct:
                await ContentSender.ServeAsync(request, file.File.Content, etag, ContentType(file), fileKey, cancellationToken).ConfigureAwait(false);
                break;
            case ResolveMode.Cache:
            {
                // The real 307 has no X-Linked-Size (hub-api.md §4.1 B): clients read the size from the resolve-cache's 200.
                headers["X-Linked-Etag"] = etag;
                var escapedPath = HubRequest.EscapePath(file.Path);
                var original = "/" + repo.Type.FilePrefix() + repo.Id + "/resolve/" + revision + "/" + file.Path;
                var location = $"/api/resolve-cache/{repo.Type.ApiSegment()}/{repo.Id}/{index.CommitId}/{escapedPath}"
                    + $"?{Uri.EscapeDataString(original)}=&etag={Uri.EscapeDataString(etag)}";
                await request.WriteRedirectAsync(307, location, cancellationToken).ConfigureAwait(false);
                break;
            }
            default:
            {
                headers["X-Linked-Etag"] = etag;
                headers["X-Linked-Size"] = file.Size.ToString(CultureInfo.InvariantCulture);
                var location = state.PublishToCdn(repo, file, request.Faults);
                await request.WriteRedirectAsync(302, location.AbsoluteUri, cancellationToken).ConfigureAwait(false);
                break;
            }
        }
    }

    /// <summary><c>/api/resolve-cache/{t}/{id}/{commit}/{path}</c>: the same-host target of the 307 for regular files.</summary>
    private async Task ResolveCacheAsync(HubRequest request, RepoType type, CancellationToken cancellationToken)
    {
        var route = RepoRoute.Parse(request.Store, type, request.Segments, request.RawSegments, 3, NoKeywords);
        if (route is null || route.Repo is null || route.Rest.Length < 2)
        {
            if (route is not null && route.Repo is null)
            {
                await RepoNotFoundAsync(request, json: false, cancellationToken).ConfigureAwait(false);
                return;
            }
            await request.WriteErrorAsync(404, "Sorry, we can't find the page you are looking for.", null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!HttpMethods.IsGet(request.Http.Request.Method) && !request.IsHead)
        {
            await request.WriteErrorAsync(405, "Method not allowed", null, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!await CheckRepoAsync(request, route, bytes: true, json: false, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var repo = route.Repo;
        var commit = route.Rest[0];
        var snapshot = commit.Length == 40 ? FindSnapshot(repo, commit) : null;
        if (snapshot is null)
        {
            await RevisionNotFoundAsync(request, commit, json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        var index = snapshot.Index;
        var headers = request.Response.Headers;
        headers["X-Repo-Commit"] = index.CommitId;
        var file = index.FindFile(string.Join('/', route.Rest[1..]));
        if (file is null || request.Faults.UnservableFiles.Contains(file.Path))
        {
            await request.WriteErrorAsync(404, "Entry not found", "EntryNotFound", json: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        headers.ContentDisposition = HubState.ContentDisposition(file.Path[(file.Path.LastIndexOf('/') + 1)..]);
        var etag = HubRequest.Quote(request.Faults.Hostile is { WrongHashes: true } ? Tamper(file.Etag) : file.Etag);
        await ContentSender.ServeAsync(request, file.File.Content, etag, ContentType(file), repo.ObjectId + "/" + file.Etag, cancellationToken).ConfigureAwait(false);
    }

    private static string ContentType(IndexedFile file) =>
        file.IsLfs ? "application/octet-stream"
        : Path.GetExtension(file.Path).ToLowerInvariant() switch
        {
            // The Hub serves a regular (git) config.json as text/plain too (hub-api.md §4.1 B), not as application/json.
            ".json" or ".md" or ".txt" or ".py" or ".yaml" or ".yml" or ".gitattributes" or "" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
}

/// <summary>The CDN listener: serves what the hub redirected to, checks signatures, refuses Authorization.</summary>
internal sealed partial class CdnHandler(HubState state)
{
    public async Task HandleAsync(HttpContext http)
    {
        var request = new HubRequest(http, state, "cdn");
        await RequestRunner.RunAsync(request, RouteAsync).ConfigureAwait(false);
    }

    private async Task RouteAsync(HubRequest request, CancellationToken cancellationToken)
    {
        request.SetCommonHeaders();
        if (!HttpMethods.IsGet(request.Http.Request.Method) && !request.IsHead)
        {
            await XmlErrorAsync(request, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (request.Authorization is not null)
        {
            // S3 presigned URLs refuse a second authentication mechanism; a client must drop its token cross-host.
            await XmlErrorAsync(request, 400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (request.RawPath.StartsWith(XorbPathPrefix, StringComparison.Ordinal))
        {
            await XorbAsync(request, cancellationToken).ConfigureAwait(false);
            return;
        }
        var expires = request.Query["Expires"].ToString();
        var signature = request.Query["Signature"].ToString();
        if (expires.Length == 0 || signature.Length == 0 || request.Query["Key-Pair-Id"].Count == 0)
        {
            await XmlErrorAsync(request, 403, "MissingKey", "Missing Key-Pair-Id query parameter or cookie value", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!CryptographicEquals(state.Sign(request.RawPath, expires), signature))
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "Access denied", cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var expiry) || state.Now.ToUnixTimeSeconds() > expiry)
        {
            await XmlErrorAsync(request, 403, "AccessDenied", "Request has expired", cancellationToken).ConfigureAwait(false);
            return;
        }
        var cdnObject = state.FindCdnObject(request.RawPath);
        if (cdnObject is null)
        {
            await XmlErrorAsync(request, 404, "NoSuchKey", "The specified key does not exist.", cancellationToken).ConfigureAwait(false);
            return;
        }
        request.Faults = cdnObject.Faults;
        if (!await state.Faults.BeforeResponseAsync(request, FaultTargets.Cdn, json: false, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        var headers = request.Response.Headers;
        if (request.Query["response-content-disposition"] is { Count: > 0 } disposition)
        {
            headers.ContentDisposition = disposition.ToString();
        }
        headers.CacheControl = "public, max-age=604800, immutable, s-maxage=604800";
        headers.LastModified = "Wed, 15 Jan 2025 10:30:00 GMT";
        // The CDN's ETag is its own (like an S3 md5), never the sha256: clients must take identity from the hub.
        var cdnEtag = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes("cdn:" + cdnObject.File.Etag)));
        await ContentSender.ServeAsync(
            request,
            cdnObject.File.File.Content,
            HubRequest.Quote(cdnEtag),
            "application/octet-stream",
            cdnObject.Repo.ObjectId + "/" + cdnObject.File.Etag,
            cancellationToken).ConfigureAwait(false);
    }

    private static bool CryptographicEquals(string expected, string actual) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(actual));

    private static Task XmlErrorAsync(HubRequest request, int status, string code, string message, CancellationToken cancellationToken)
    {
        var body = $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>";
        return request.WriteBodyAsync(status, "application/xml", Encoding.UTF8.GetBytes(body), cancellationToken);
    }
}
