namespace Iser.Cli;

/// <summary>A command line given up for bad arguments; the message says which. Exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
