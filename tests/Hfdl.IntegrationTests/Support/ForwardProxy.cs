using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hfdl.IntegrationTests.Support;

/// <summary>
/// A minimal HTTP forward proxy on 127.0.0.1:0, for the HTTP_PROXY test: it forwards absolute-form requests
/// (<c>GET http://host:port/path HTTP/1.1</c>) one per client connection, with <c>Connection: close</c>, and tunnels
/// <c>CONNECT</c>. It records the request line of everything it forwards.
/// </summary>
public sealed class ForwardProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public ForwardProxy()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    public ConcurrentQueue<string> Requests { get; } = new();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = await ReadHeadAsync(stream);
                if (head is null)
                {
                    return;
                }
                var lines = head.Split("\r\n");
                var parts = lines[0].Split(' ');
                Requests.Enqueue(lines[0]);
                if (parts[0] == "CONNECT")
                {
                    var hostPort = parts[1].Split(':');
                    using var tunnel = new TcpClient();
                    await tunnel.ConnectAsync(hostPort[0], int.Parse(hostPort[1], System.Globalization.CultureInfo.InvariantCulture));
                    await stream.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray());
                    var upstream = tunnel.GetStream();
                    await Task.WhenAny(stream.CopyToAsync(upstream), upstream.CopyToAsync(stream));
                    return;
                }
                var target = new Uri(parts[1]);
                using var server = new TcpClient();
                await server.ConnectAsync(target.Host, target.Port);
                var serverStream = server.GetStream();
                var request = new StringBuilder($"{parts[0]} {target.PathAndQuery} {parts[2]}\r\n");
                foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
                {
                    if (!line.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase) && !line.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase))
                    {
                        request.Append(line).Append("\r\n");
                    }
                }
                request.Append("Connection: close\r\n\r\n");
                await serverStream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()));
                var length = lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } header
                    ? long.Parse(header["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)
                    : 0;
                if (length > 0)
                {
                    var body = new byte[length];
                    await stream.ReadExactlyAsync(body);
                    await serverStream.WriteAsync(body);
                }
                // The server closes after its response (Connection: close), which ends the relay.
                await serverStream.CopyToAsync(stream);
            }
            catch (Exception ex) when (ex is IOException or SocketException or FormatException or UriFormatException)
            {
                // A client that went away, or garbage: nothing to forward.
            }
        }
    }

    private static async Task<string?> ReadHeadAsync(NetworkStream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (bytes.Count < 65536)
        {
            if (await stream.ReadAsync(one) == 0)
            {
                return null;
            }
            bytes.Add(one[0]);
            if (bytes.Count >= 4 && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n')
            {
                return Encoding.ASCII.GetString([.. bytes]);
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
