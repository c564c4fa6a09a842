namespace Iser.Cli.Perf;

/// <summary>The access pattern of a perf run (the fio names).</summary>
internal enum PerfMode
{
    Read,
    Write,
    RandRead,
    RandWrite,
    /// <summary>Random, with <see cref="PerfWorkload.ReadPercent"/> of the commands reads.</summary>
    RandRW,
}
