//! The demo's `--only-2026` mode: a stdio transport that rmcp can serve more than once, so a
//! refused `initialize` does not end the process and `server/discover` is answered after it.

use std::sync::Arc;

use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    service::ServerInitializeError,
    transport::{stdio_pipes, Transport},
    RoleServer, ServiceExt,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Demo, DemoError};

/// A stdio transport that can be served more than once: lines are read by one task for the
/// whole process, so after rmcp gives up on a refused `initialize` (which ends a bare rmcp
/// server) we can serve the same stdin again and answer `server/discover` afterwards.
struct ReusableStdio {
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<ClientJsonRpcMessage>>>,
    tx: tokio::sync::mpsc::UnboundedSender<ServerJsonRpcMessage>,
}

impl Transport<RoleServer> for ReusableStdio {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let sent = self
            .tx
            .send(item)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout closed"));
        std::future::ready(sent)
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.rx.lock().await.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub(super) async fn serve_reusable(demo: Arc<Demo>) -> Result<(), DemoError> {
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<ClientJsonRpcMessage>(64);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<ServerJsonRpcMessage>();
    let (reader, mut writer) = stdio_pipes();
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ClientJsonRpcMessage>(&line) {
                Ok(message) => {
                    if in_tx.send(message).await.is_err() {
                        break;
                    }
                }
                Err(error) => tracing::warn!(%error, "ignoring unparsable line"),
            }
        }
    });
    tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let Ok(mut line) = serde_json::to_vec(&message) else {
                continue;
            };
            line.push(b'\n');
            if writer.write_all(&line).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    let rx = Arc::new(tokio::sync::Mutex::new(in_rx));
    loop {
        let transport = ReusableStdio {
            rx: rx.clone(),
            tx: out_tx.clone(),
        };
        match demo.clone().serve(transport).await {
            Ok(service) => {
                service
                    .waiting()
                    .await
                    .map_err(|e| DemoError::Serve(e.to_string()))?;
                return Ok(());
            }
            Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(error) => {
                tracing::info!(%error, "lifecycle not started; waiting for the next request")
            }
        }
    }
}
