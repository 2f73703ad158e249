// What dist/uppy.min.mjs exports: Uppy's core and its S3 uploader, from npm, nothing else.
export { default as Uppy } from "@uppy/core";
export { default as AwsS3 } from "@uppy/aws-s3";
