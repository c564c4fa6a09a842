namespace Iser.Cli.Client;

/// <summary>What `--transport` asked for.</summary>
internal enum TransportChoice
{
    Tcp,
    Iser,
    /// <summary>iSER where it can run, otherwise TCP (saying why).</summary>
    Auto,
}
