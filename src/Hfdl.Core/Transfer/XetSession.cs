using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Native Xet for one run of one repo at one commit: the read token (fetched from the Hub with the Hub token, renewed
/// shortly before its <c>exp</c> on the injected clock and after the CAS refuses it with 401), reconstructions from
/// the CAS (v2, or v1 when the CAS has no v2), the chunk cache, and what was saved. Only the Hub endpoint gets the Hub
/// token; the CAS gets the Xet token; xorb URLs get nothing (<see cref="XorbRangeSource"/>).
/// </summary>
internal sealed class XetSession(
    HubClient client,
    RepoType type,
    RepoId id,
    string commit,
    DownloadOptions options,
    XetChunkCache? cache,
    IProgress<DownloadEvent>? progress)
{
    /// <summary>A token this close to its expiry is renewed before use (hub-api.md §9: 30-60 s).</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromSeconds(60);

    private readonly SemaphoreSlim _tokenGate = new(1, 1);
    private XetReadToken? _token;
    private volatile string _version = "v2";
    private long _bytesFromCache;
    private long _xorbBytesFetched;
    private int _tokensFetched;

    public HubClient Client => client;

    public DownloadOptions Options => options;

    public XetChunkCache? Cache => cache;

    public IProgress<DownloadEvent>? Progress => progress;

    /// <summary>Bytes of xorb ranges read from the chunk cache instead of the network.</summary>
    public long BytesFromCache => Interlocked.Read(ref _bytesFromCache);

    /// <summary>Read tokens fetched from the Hub so far (for tests of the refresh).</summary>
    public int TokensFetched => Volatile.Read(ref _tokensFetched);

    /// <summary>The context of a planned file's requests: the file is in the listing at the session's commit.</summary>
    public HubRequestContext ContextFor(string path) => client.Context(type, id, commit, path) with { FileListed = true };

    public void CountFromCache(long bytes) => Interlocked.Add(ref _bytesFromCache, bytes);

    /// <summary>Bytes of xorb ranges received over the network (retries included).</summary>
    public long XorbBytesFetched => Interlocked.Read(ref _xorbBytesFetched);

    public void CountFetched(long bytes) => Interlocked.Add(ref _xorbBytesFetched, bytes);

    /// <summary>
    /// Whether a big file may go through native Xet: an LFS file with bytes. Its Xet hash comes from the listing or,
    /// when the listing gave none or a redacted one, from the resolve answer (<see cref="XetFileJob"/>).
    /// </summary>
    public static bool Serves(RemoteFile file) => file.IsLfs && file.Size > 0;

    /// <summary>The current token, renewed when it is within <see cref="RefreshMargin"/> of its expiry, or when <paramref name="refused"/> is it.</summary>
    public async Task<XetReadToken> TokenAsync(XetReadToken? refused, CancellationToken cancellationToken)
    {
        await _tokenGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _token;
            if (current is not null && !ReferenceEquals(current, refused) && options.Time.GetUtcNow() < current.ExpiresAt - RefreshMargin)
            {
                return current;
            }
            var fresh = await client.GetXetReadTokenAsync(type, id, commit, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _tokensFetched);
            _token = fresh;
            return fresh;
        }
        finally
        {
            _tokenGate.Release();
        }
    }

    /// <summary>
    /// The reconstruction of bytes <c>[first, last]</c> of the file <paramref name="fileHash"/>: v2, or v1 from the first
    /// time the CAS answers v2 with 404 or 501. A 401 renews the token and asks again (twice at most).
    /// </summary>
    public async Task<XetReconstruction> ReconstructionAsync(string fileHash, long first, long last, CancellationToken cancellationToken)
    {
        XetReadToken? refused = null;
        for (var unauthorized = 0; ; )
        {
            var token = await TokenAsync(refused, cancellationToken).ConfigureAwait(false);
            var version = _version;
            try
            {
                return await client.GetXetReconstructionAsync(token.CasUrl, version, token.AccessToken, fileHash, first, last, cancellationToken).ConfigureAwait(false);
            }
            catch (XetCasException ex) when ((int?)ex.StatusCode == 401 && unauthorized++ < 2)
            {
                refused = token;
            }
            catch (XetCasException ex) when (version == "v2" && (int?)ex.StatusCode is 404 or 501)
            {
                _version = "v1";
            }
        }
    }
}

/// <summary>Native Xet did not work for a file (token, reconstruction, decoding, a term that does not add up).</summary>
internal sealed class XetUnavailableException(string message, Exception? inner = null) : HfdlException(message, inner);
