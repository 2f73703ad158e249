// What dist/uppy.min.mjs exports: Uppy's core and its S3 uploader, and the plugin options of
// the browser client package (`@private-uploads/client/uppy`, installed from ../client as an
// app installs it from npm), nothing else.
export { default as Uppy } from "@uppy/core";
export { default as AwsS3 } from "@uppy/aws-s3";
export {
  fileIdOf,
  privateUploadsCredentials,
  privateUploadsPresigned,
  waitUntilSettled,
} from "@private-uploads/client/uppy";
