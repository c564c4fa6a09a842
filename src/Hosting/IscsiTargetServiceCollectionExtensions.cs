using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Iser.Hosting;

public static class IscsiTargetServiceCollectionExtensions
{
    /// <summary>
    /// An iSCSI target run by the host: options bound from <paramref name="configuration"/> (e.g. the "Iser" section of
    /// appsettings.json) and checked when the host starts, with every problem in words
    /// (<see cref="OptionsValidationException"/>); <see cref="IscsiTargetHostedService"/> serves it until the host stops.
    /// </summary>
    public static IServiceCollection AddIscsiTarget(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<IscsiTargetHostOptions>().Bind(configuration).ValidateOnStart();
        services.AddSingleton<IValidateOptions<IscsiTargetHostOptions>, IscsiTargetHostOptionsValidator>();
        services.AddSingleton<IscsiTargetHostedService>();
        services.AddHostedService(provider => provider.GetRequiredService<IscsiTargetHostedService>());
        return services;
    }
}
