//! Mount an in-memory bucket holding a small model repository, for trying the FUSE adapter
//! by hand: `cargo run -p s3fs_core --example mount_memory -- /mnt/point`, then Ctrl-C.

use s3client::mock::{MockClient, MockObject};
use s3fs_core::{Filesystem, FsConfig, MountConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mountpoint = std::env::args()
        .nth(1)
        .expect("usage: mount_memory MOUNTPOINT");
    let c = MockClient::new();
    c.put("resnet50/config.pbtxt", "name: \"resnet50\"\n");
    c.put(
        "resnet50/1/model.onnx",
        (0..64u32 << 20)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    c.insert(
        "resnet50/2/",
        MockObject::new("").content_type("application/x-directory"),
    );
    for i in 0..1500 {
        c.put(&format!("static/many/f{i:05}.txt"), format!("{i}\n"));
    }
    c.put("out", "file");
    c.put("out/shadow.txt", "child");
    let config = FsConfig {
        uid: 0,
        gid: 0,
        ..FsConfig::default()
    };
    let fs = Filesystem::new(c, config);
    let mount = MountConfig {
        fs_name: "memory".into(),
        read_only: true,
        ..MountConfig::default()
    };
    let handle = s3fs_core::fuse::mount(fs, mountpoint.as_ref(), &mount).await?;
    eprintln!("mounted at {mountpoint}; Ctrl-C to unmount");
    tokio::signal::ctrl_c().await?;
    handle.unmount().await
}
