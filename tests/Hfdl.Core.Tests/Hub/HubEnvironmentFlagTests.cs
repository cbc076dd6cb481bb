using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

/// <summary>Flags read exactly as huggingface_hub's constants.py reads them, or the two tools would disagree on one machine.</summary>
public sealed class HubEnvironmentFlagTests
{
    private static HubEnvironment With(params (string Name, string Value)[] variables) =>
        HubEnvironment.FromDictionary(variables.ToDictionary(v => v.Name, v => (string?)v.Value));

    [Theory]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    [InlineData("On", true)]
    [InlineData("TRUE", true)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData(" 1", false)] // _is_true does not strip: huggingface_hub stays online, and so does hfdl
    [InlineData("1 ", false)]
    [InlineData("", false)]
    public void A_flag_is_true_only_for_the_values_huggingface_hub_takes(string value, bool expected)
    {
        Assert.Equal(expected, With(("HF_HUB_DISABLE_XET", value)).DisableXet);
        Assert.Equal(expected, With(("HF_HUB_OFFLINE", value)).Offline);
    }

    [Theory]
    [InlineData("0", "1", false, null)] // HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE: a non-empty HF_HUB_OFFLINE decides alone
    [InlineData("false", "1", false, null)]
    [InlineData("", "1", true, "TRANSFORMERS_OFFLINE")] // empty is unset
    [InlineData("1", "0", true, "HF_HUB_OFFLINE")]
    [InlineData("1", "1", true, "HF_HUB_OFFLINE")]
    public void HF_HUB_OFFLINE_when_set_hides_TRANSFORMERS_OFFLINE_as_in_huggingface_hub(string hub, string transformers, bool offline, string? named)
    {
        var environment = With(("HF_HUB_OFFLINE", hub), ("TRANSFORMERS_OFFLINE", transformers));

        Assert.Equal(offline, environment.Offline);
        Assert.Equal(named is null ? [] : [named], environment.OfflineVariables);
    }
}
