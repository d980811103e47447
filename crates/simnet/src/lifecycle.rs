//! Starting, stopping and restarting the nodes and processors of a [`Simnet`].

use std::sync::Arc;

use crate::error::SimnetError;
use crate::node::Node;
use crate::simnet::{RunningNode, Simnet};

impl Simnet {
    pub(crate) fn start_node(&self, index: usize) -> Result<Arc<Node>, SimnetError> {
        let slot = self.slot(index)?;
        let node = Arc::new(Node::open(
            slot.config.clone(),
            &self.env,
            Arc::clone(&slot.recorder),
        )?);
        let processor = self.driver.start(node.parts())?;
        *slot.running.lock() = Some(RunningNode {
            node: Arc::clone(&node),
            processor: Some(processor),
        });
        Ok(node)
    }

    /// Stops the node at `index`: disconnects it from its peers, stops its processor (which
    /// makes its final writes) and, for a manual node, writes its ChannelManager, graph and
    /// scorer. Its data directory keeps everything needed to start it again.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::NodeStopped`] if it is not running, [`SimnetError::Driver`]
    /// with the processor's error, or [`SimnetError::Write`] if a final write fails.
    pub fn stop_node(&self, index: usize) -> Result<(), SimnetError> {
        let slot = self.slot(index)?;
        let Some(running) = slot.running.lock().take() else {
            return Err(SimnetError::NodeStopped {
                name: slot.config.name.clone(),
            });
        };
        // NOTE: peers go first, so that no message changes the ChannelManager after the
        // processor's final write.
        self.network.disconnect_node(&running.node.node_id());
        // After a panic, delivering to a PeerManager whose locks it poisoned panics again.
        if !std::thread::panicking() {
            self.network.deliver_all();
        }
        // When a test stopped the node's processor, no processor makes the final writes.
        let processor_was_stopped = running.processor.is_none();
        if let Some(processor) = running.processor {
            processor.stop()?;
        }
        if self.driver.is_manual() || processor_was_stopped {
            running.node.persist_channel_manager()?;
            running.node.persist_graph_and_scorer()?;
        }
        Ok(())
    }

    /// Starts the stopped node at `index` again from its data directory, and connects it to
    /// the peers it had.
    ///
    /// The old node's store keeps its directory locked while any part of the node is alive,
    /// so drop every [`Arc<Node>`](Node) of it before the restart.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Read`] if its stored state cannot be read back, and the errors
    /// of [`Simnet::connect`].
    pub fn restart_node(&self, index: usize) -> Result<Arc<Node>, SimnetError> {
        let node = self.start_node(index)?;
        let connections = self.connections.lock().clone();
        for (initiator, responder) in connections {
            if initiator != index && responder != index {
                continue;
            }
            let other = if initiator == index {
                responder
            } else {
                initiator
            };
            if self.node(other).is_ok() {
                self.open_connection(initiator, responder)?;
            }
        }
        Ok(node)
    }

    /// Stops every running node, as [`Simnet::stop_node`] does.
    ///
    /// # Errors
    ///
    /// Returns the first error of a node's stop; the other nodes are still stopped.
    pub fn stop_all(&self) -> Result<(), SimnetError> {
        let mut first_error = None;
        for index in 0..self.slots.len() {
            if self.slots[index].running.lock().is_none() {
                continue;
            }
            if let Err(error) = self.stop_node(index) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the background processor of the node at `index` and leaves the node running,
    /// so that a test can time the stop or start a processor again.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::NodeStopped`] if the node is not running,
    /// [`SimnetError::ProcessorStopped`] if its processor is not, and [`SimnetError::Driver`]
    /// with the processor's error.
    pub fn stop_processor(&self, index: usize) -> Result<(), SimnetError> {
        let slot = self.slot(index)?;
        let processor = {
            let mut running = slot.running.lock();
            let Some(running) = running.as_mut() else {
                return Err(SimnetError::NodeStopped {
                    name: slot.config.name.clone(),
                });
            };
            running.processor.take()
        };
        match processor {
            Some(processor) => Ok(processor.stop()?),
            None => Err(SimnetError::ProcessorStopped {
                name: slot.config.name.clone(),
            }),
        }
    }

    /// Starts a new background processor for the running node at `index`, whose processor
    /// was stopped with [`Simnet::stop_processor`].
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::NodeStopped`] if the node is not running,
    /// [`SimnetError::ProcessorRunning`] if its processor still runs, and
    /// [`SimnetError::Driver`] if the processor fails to start.
    pub fn start_processor(&self, index: usize) -> Result<(), SimnetError> {
        let slot = self.slot(index)?;
        let mut running = slot.running.lock();
        let Some(running) = running.as_mut() else {
            return Err(SimnetError::NodeStopped {
                name: slot.config.name.clone(),
            });
        };
        if running.processor.is_some() {
            return Err(SimnetError::ProcessorRunning {
                name: slot.config.name.clone(),
            });
        }
        running.processor = Some(self.driver.start(running.node.parts())?);
        Ok(())
    }
}
