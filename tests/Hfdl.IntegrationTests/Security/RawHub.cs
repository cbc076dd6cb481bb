using System.Net;
using System.Net.Sockets;
using System.Text;
using Hfdl.Core.Integrity;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// A hub on a raw loopback socket that controls every byte on the wire, for faults Kestrel will not produce: a body
/// longer than its <c>Content-Length</c>, or a body without one that runs past the listed size. It serves one repo,
/// <c>acme/raw</c>, with one file, <c>file.bin</c>; each connection carries one request and is closed after it.
/// </summary>
public sealed class RawHub : IAsyncDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Func<byte[], byte[]> _fileResponse;

    /// <param name="content">The file's true bytes, listed with their size and git blob sha1.</param>
    /// <param name="fileResponse">The whole HTTP response (status line, headers, body) sent for the file.</param>
    public RawHub(byte[] content, Func<byte[], byte[]> fileResponse)
    {
        Content = content;
        _fileResponse = fileResponse;
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _loop = Task.Run(AcceptAsync);
    }

    public byte[] Content { get; }

    public Uri Endpoint { get; }

    public int FileRequests { get; private set; }

    public static byte[] Response(string head, byte[] body) => [.. Encoding.ASCII.GetBytes(head.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n"), .. body];

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
                var head = new StringBuilder();
                var one = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one, _stop.Token) == 1)
                {
                    head.Append((char)one[0]);
                }
                var target = head.ToString().Split(' ')[1];
                var path = target.Split('?')[0];
                byte[] response;
                if (path == "/api/models/acme/raw/revision/main")
                {
                    response = Json($"{{\"id\":\"acme/raw\",\"sha\":\"{Commit}\"}}");
                }
                else if (path == $"/api/models/acme/raw/tree/{Commit}")
                {
                    response = Json($"[{{\"type\":\"file\",\"oid\":\"{GitBlobHasher.Compute(Content)}\",\"size\":{Content.Length},\"path\":\"file.bin\"}}]");
                }
                else if (path == $"/acme/raw/resolve/{Commit}/file.bin")
                {
                    FileRequests++;
                    response = _fileResponse(Content);
                }
                else
                {
                    response = Response("HTTP/1.1 404 Not Found\nContent-Length: 0\nConnection: close\n", []);
                }
                await stream.WriteAsync(response, _stop.Token);
                await stream.FlushAsync(_stop.Token);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // The client went away: nothing to serve.
            }
        }
    }

    private static byte[] Json(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        return Response($"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {body.Length}\nX-Repo-Commit: {Commit}\nConnection: close\n", body);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
