using System.Net;
using System.Net.Sockets;
using Hfdl.Core.Hub;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Download;

/// <summary>
/// The connect timeout runs on the injected clock like every other timeout: a host whose port takes connections into
/// its queue but never answers (a full accept queue drops SYNs, as a black-holed address does) is given up on after
/// exactly <see cref="HubClientOptions.ConnectTimeout"/> of the fake clock, with a message that says so, and retried.
/// </summary>
public sealed class ConnectTimeoutTests
{
    /// <summary>A listener that never accepts, its queue (backlog 0: one connection) already taken: the next SYN is dropped.</summary>
    private sealed class BlackHole : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly Socket _filler = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        public BlackHole()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(0);
            _filler.Connect(_listener.LocalEndPoint!);
        }

        public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}");

        public void Dispose()
        {
            _filler.Dispose();
            _listener.Dispose();
        }
    }

    [Fact]
    public async Task A_connection_that_never_opens_is_abandoned_after_the_connect_timeout_of_the_injected_clock_and_retried()
    {
        using var hole = new BlackHole();
        var clock = new RetryClock();
        using var client = new HubClient(new HubClientOptions
        {
            Endpoint = hole.Endpoint,
            Time = clock,
            Retries = clock,
            MaxRetries = 1,
            ConnectTimeout = TimeSpan.FromSeconds(7),
        });
        var started = clock.GetUtcNow();

        var info = Task.Run(() => client.GetRepoInfoAsync(RepoType.Model, RepoId.Parse("acme/model"), "main"));
        clock.Advance(await clock.WaitForTimerAsync(TimeSpan.FromSeconds(7)));
        var retry = await clock.NextRetryAsync();
        clock.Advance(await clock.WaitForTimerAsync(retry.Delay));
        Assert.False(info.IsCompleted, "the second attempt waits for its own connect timeout");
        clock.Advance(await clock.WaitForTimerAsync(TimeSpan.FromSeconds(7)));
        var error = await Assert.ThrowsAsync<HubUnreachableException>(() => info.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("opened within 7 s", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Could not reach {hole.Endpoint.GetLeftPart(UriPartial.Authority)}", error.Message, StringComparison.Ordinal);
        Assert.Single(clock.Reported);
        Assert.True(clock.GetUtcNow() - started >= TimeSpan.FromSeconds(14));
    }
}
