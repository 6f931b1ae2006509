// Accept headers for the API server: metadata-only answers (PartialObjectMetadata) keep Secret,
// ConfigMap and custom-resource payloads out of the guard; plain JSON where the object is needed.
// The trailing plain JSON lets a server that cannot produce PartialObjectMetadata still answer;
// callers project to metadata either way.
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
export const ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
export const ACCEPT_JSON = 'application/json';
