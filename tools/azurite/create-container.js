// Creates a blob container in an Azure Storage account (Azurite in tests) and, when asked,
// prints a container SAS with the given permissions (e.g. "rl" = read + list).
// Usage: node create-container.js <container> [--sas <permissions>]
// The connection string comes from AZURE_STORAGE_CONNECTION_STRING, never from the command line,
// so it does not show up in process listings. Exits 0 when the container exists afterwards.
const { BlobServiceClient, ContainerSASPermissions } = require("@azure/storage-blob");

async function main() {
  const [container, flag, perms] = process.argv.slice(2);
  const conn = process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (!container || !conn || (flag && (flag !== "--sas" || !perms))) {
    console.error("usage: AZURE_STORAGE_CONNECTION_STRING=... node create-container.js <container> [--sas <permissions>]");
    process.exit(2);
  }
  const service = BlobServiceClient.fromConnectionString(conn);
  const client = service.getContainerClient(container);
  await client.createIfNotExists();
  if (flag === "--sas") {
    const url = await client.generateSasUrl({
      permissions: ContainerSASPermissions.parse(perms),
      expiresOn: new Date(Date.now() + 3600 * 1000),
    });
    // Only the query string: the caller builds its own connection string around it.
    console.log(new URL(url).search.slice(1));
  } else {
    console.log(`container ${container} ready`);
  }
}

main().catch((e) => {
  // The message of a storage error names the operation and status, not the key.
  console.error(`cannot create container: ${e.message}`);
  process.exit(1);
});
