using System.Runtime.CompilerServices;

// The CLI tests run the commands in-process with their own writers.
[assembly: InternalsVisibleTo("Iser.Tests")]
