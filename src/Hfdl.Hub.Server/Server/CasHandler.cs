using System.Globalization;
using System.Text.Json;
using Hfdl.Core.Xet;

namespace Hfdl.Hub.Server;

/// <summary>
/// The Xet CAS listener (the real one is <c>cas-server.xethub.hf.co</c>): <c>GET /v1/reconstructions/{file}</c> and
/// <c>GET /v2/reconstructions/{file}</c> (spec api.md), authorised by a token from <c>xet-read-token</c>, with an
/// optional <c>Range: bytes=a-b</c>. Answers with the terms that cover the range and signed xorb URLs on the CDN.
/// </summary>
internal sealed class CasHandler(HubState state)
{
    public async Task HandleAsync(HttpContext http)
    {
        var request = new HubRequest(http, state, "cas");
        await RequestRunner.RunAsync(request, RouteAsync).ConfigureAwait(false);
    }

    private async Task RouteAsync(HubRequest request, CancellationToken cancellationToken)
    {
        request.SetCommonHeaders();
        var segments = request.Segments;
        if (segments.Length != 3 || segments[0] is not ("v1" or "v2") || segments[1] != "reconstructions")
        {
            await request.WriteErrorAsync(404, "Not found", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!HttpMethods.IsGet(request.Http.Request.Method) && !request.IsHead)
        {
            await request.WriteErrorAsync(405, "Method not allowed", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var token = request.Authorization is { } authorization && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim()
            : null;
        if (state.ReadXetToken(token) is not var (type, repoId, commit))
        {
            await request.WriteErrorAsync(401, token is null ? "Missing access token" : "Invalid or expired access token", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var repo = state.Options.Store.FindRepo(type, repoId);
        var snapshot = repo is null ? null : HubHandler.FindSnapshot(repo, commit);
        if (repo is null || snapshot is null)
        {
            await request.WriteErrorAsync(404, "Not found", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        request.Faults = repo.Settings.Faults ?? state.Options.Faults;
        if (!await state.Faults.BeforeResponseAsync(request, FaultTargets.Cas, json: true, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        if (request.Faults.Xet is { NoV2: true } && segments[0] == "v2")
        {
            await request.WriteErrorAsync(404, "Not found", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (request.Faults.Xet is { UnauthorizedReconstructions: > 0 } xetFaults
            && state.Faults.StrikesFirst(request.Faults, xetFaults, xetFaults.UnauthorizedReconstructions))
        {
            await request.WriteErrorAsync(401, "Invalid or expired access token", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!XetHash.TryParse(segments[2], out var hash) || segments[2].Any(char.IsAsciiLetterUpper))
        {
            await request.WriteErrorAsync(400, "Invalid file id", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        // A token reads the files of its repo at its commit.
        var file = state.Xet.FindFile(repo, hash);
        if (file is null || !snapshot.Index.Files.Any(f => state.Xet.FileOf(repo, f)?.Hash == hash))
        {
            await request.WriteErrorAsync(404, "Not found", null, json: true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var (first, last) = (0L, file.Size - 1);
        if (request.Http.Request.Headers.Range.Count > 0)
        {
            switch (ByteRange.Parse(request.Http.Request.Headers.Range.ToString(), file.Size))
            {
                case { Unsatisfiable: true }:
                    request.Response.Headers.ContentRange = "bytes */" + file.Size.ToString(CultureInfo.InvariantCulture);
                    await request.WriteErrorAsync(416, "Requested range not satisfiable", null, json: true, cancellationToken).ConfigureAwait(false);
                    return;
                case { } range:
                    (first, last) = (range.Start, range.Start + range.Length - 1);
                    break;
            }
        }
        var answer = Reconstruction(repo, file, first, last, v2: segments[0] == "v2", request.Faults);
        var body = JsonSerializer.SerializeToUtf8Bytes(answer, XetJsonContext.Default.XetReconstructionJson);
        await request.WriteBodyAsync(200, "application/json", body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The terms that cover bytes <c>[first, last]</c> of the file, and where to fetch their chunks.</summary>
    private XetReconstructionJson Reconstruction(HostedRepo repo, XetFileEntry file, long first, long last, bool v2, HubFaults faults)
    {
        var from = TermAt(file, first);
        var to = TermAt(file, last);
        var lie = faults.Xet?.Lie ?? XetReconstructionLie.None;
        var terms = new List<XetTermJson>();
        var needed = new Dictionary<XetHash, List<(int Start, int End)>>();
        for (var i = from; i <= to; i++)
        {
            var term = file.Terms[i];
            terms.Add(new XetTermJson
            {
                Hash = term.Xorb.ToString(),
                UnpackedLength = term.UnpackedLength + (i == from && lie == XetReconstructionLie.UnpackedLength ? 1 : 0),
                Range = new XetRangeJson { Start = term.ChunkStart, End = term.ChunkEnd },
            });
            if (!needed.TryGetValue(term.Xorb, out var ranges))
            {
                needed[term.Xorb] = ranges = [];
            }
            ranges.Add((term.ChunkStart, term.ChunkEnd));
        }
        var fetchInfo = new Dictionary<string, List<XetFetchInfoJson>>(StringComparer.Ordinal);
        var xorbs = new Dictionary<string, List<XetXorbFetchJson>>(StringComparer.Ordinal);
        foreach (var (hash, chunkRanges) in needed)
        {
            var xorb = state.Xet.FindXorb(hash) ?? throw new InvalidOperationException($"Xorb {hash} is missing from the store.");
            var merged = Merge(chunkRanges)
                .Select(r => lie == XetReconstructionLie.WiderFetchRange && r.End < xorb.Chunks.Length ? (r.Start, End: r.End + 1) : r)
                .Select(r => (Chunks: r, Bytes: (
                Start: (long)xorb.Chunks[r.Start].Offset,
                End: (long)xorb.Chunks[r.End - 1].End - 1 - (lie == XetReconstructionLie.ByteRange ? 1 : 0)))).ToList();
            var key = hash.ToString();
            if (v2)
            {
                var signed = "bytes=" + string.Join(',', merged.Select(r => $"{r.Bytes.Start}-{r.Bytes.End}"));
                xorbs[key] =
                [
                    new XetXorbFetchJson
                    {
                        Url = state.SignXorbUrl(repo, key, signed, faults).AbsoluteUri,
                        Ranges = [.. merged.Select(r => new XetXorbRangeJson
                        {
                            Chunks = new XetRangeJson { Start = r.Chunks.Start, End = r.Chunks.End },
                            Bytes = new XetRangeJson { Start = r.Bytes.Start, End = r.Bytes.End },
                        })],
                    },
                ];
            }
            else
            {
                fetchInfo[key] = [.. merged.Select(r => new XetFetchInfoJson
                {
                    Range = new XetRangeJson { Start = r.Chunks.Start, End = r.Chunks.End },
                    Url = state.SignXorbUrl(repo, key, $"bytes={r.Bytes.Start}-{r.Bytes.End}", faults).AbsoluteUri,
                    UrlRange = new XetRangeJson { Start = r.Bytes.Start, End = r.Bytes.End },
                })];
            }
        }
        return new XetReconstructionJson
        {
            OffsetIntoFirstRange = first - file.TermStarts[from],
            Terms = terms,
            FetchInfo = v2 ? null : fetchInfo,
            Xorbs = v2 ? xorbs : null,
        };
    }

    /// <summary>The index of the term holding byte <paramref name="offset"/>.</summary>
    private static int TermAt(XetFileEntry file, long offset)
    {
        var index = Array.BinarySearch(file.TermStarts, offset);
        return index >= 0 ? index : ~index - 1;
    }

    /// <summary>Chunk ranges sorted, overlapping or touching ones joined: each xorb is fetched once per run of chunks.</summary>
    private static List<(int Start, int End)> Merge(List<(int Start, int End)> ranges)
    {
        var merged = new List<(int Start, int End)>();
        foreach (var range in ranges.OrderBy(r => r.Start))
        {
            if (merged.Count > 0 && range.Start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, range.End));
            }
            else
            {
                merged.Add(range);
            }
        }
        return merged;
    }
}
