using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hfdl.Core.Tests.Replay;

/// <summary>
/// A one-connection HTTP/1.1 server on a raw socket, for answers Kestrel cannot be trusted to measure: it counts the
/// body bytes the kernel accepted before the client hung up (Kestrel silently drops writes to a closed connection).
/// </summary>
public sealed class RawHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop;

    private RawHttpServer(TcpListener listener, CancellationTokenSource stop, Task<long> sent)
    {
        _listener = listener;
        _stop = stop;
        BodyBytesSent = sent;
    }

    public Uri BaseUri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Completes when the connection ends: body bytes handed to the kernel until the client hung up (or the cap).</summary>
    public Task<long> BodyBytesSent { get; }

    /// <param name="head">The status line and headers, without the blank line.</param>
    /// <param name="chunk">Body bytes, sent again and again until <paramref name="cap"/> bytes went out.</param>
    public static RawHttpServer Start(string head, byte[] chunk, long cap)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var stop = cancel.Token;
        var sent = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(stop);
            var request = new List<byte>();
            var buffer = new byte[4096];
            while (!EndsWithBlankLine(request))
            {
                var read = await socket.ReceiveAsync(buffer, stop);
                if (read == 0)
                {
                    return 0L;
                }
                request.AddRange(buffer.AsSpan(0, read).ToArray());
            }
            await socket.SendAsync(Encoding.ASCII.GetBytes(head + "\r\n\r\n"), stop);
            long total = 0;
            try
            {
                while (total < cap)
                {
                    total += await socket.SendAsync(chunk, stop);
                }
            }
            catch (SocketException)
            {
                // The client closed the connection.
            }
            return total;
        });
        return new RawHttpServer(listener, cancel, sent);
    }

    private static bool EndsWithBlankLine(List<byte> data) =>
        data.Count >= 4 && data[^4] == '\r' && data[^3] == '\n' && data[^2] == '\r' && data[^1] == '\n';

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await BodyBytesSent;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }
}
