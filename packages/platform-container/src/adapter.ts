/**
 * @duende/platform-container/adapter: the manager half. A `DaemonConfig` as
 * a container spec rendered as an OCI bundle, podman/docker run arguments, a
 * Docker Engine API create body or a compose service; drivers for runc,
 * crun, podman and the Docker Engine API; and core's `PlatformAdapter` for
 * containers.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ComposeService from "./ComposeService.js"
/** @since 0.1.0 */
export * as ContainerAdapter from "./ContainerAdapter.js"
/** @since 0.1.0 */
export * as ContainerArtifacts from "./ContainerArtifacts.js"
/** @since 0.1.0 */
export * as ContainerSection from "./ContainerSection.js"
/** @since 0.1.0 */
export * as ContainerSpec from "./ContainerSpec.js"
/** @since 0.1.0 */
export * as EngineSpec from "./EngineSpec.js"
/** @since 0.1.0 */
export * as OciSpec from "./OciSpec.js"
/** @since 0.1.0 */
export * as RunArgs from "./RunArgs.js"
