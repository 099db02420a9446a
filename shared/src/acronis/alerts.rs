//! Alert Manager reads and the dismiss call for the tickets job (F25–F27, G7).

use reqwest::Method;

use super::api::AlertBatch;
use super::client::{AL, AcronisClient, ApiRequest};
use super::error::AcronisError;
use super::models::{Alert, Page};

impl AcronisClient {
    /// Alerts (dismissed and resolved ones included) whose `updatedAt` is at or after
    /// `since_ns`, oldest update first, every page. Inclusive, so that an alert updated in the
    /// same nanosecond as the last one seen is not lost; the caller skips the ids it saw at
    /// that instant.
    pub async fn alerts_updated_since(
        &self,
        since_ns: i64,
        page_size: usize,
    ) -> Result<AlertBatch, AcronisError> {
        let first = vec![
            ("updated_at", format!("ge({since_ns})")),
            ("order", "asc(updated_at)".to_string()),
            ("show_deleted", "true".to_string()),
            ("limit", page_size.to_string()),
        ];
        self.alert_pages(first, since_ns, page_size).await
    }

    /// Every active (not dismissed) alert: where a first run starts, so no open alert is missed.
    pub async fn active_alerts(&self, page_size: usize) -> Result<AlertBatch, AcronisError> {
        let first = vec![
            ("order", "asc(updated_at)".to_string()),
            ("limit", page_size.to_string()),
        ];
        self.alert_pages(first, 0, page_size).await
    }

    /// Follows the cursor from the first query; the watermark is the greatest `updatedAt`.
    pub(crate) async fn alert_pages(
        &self,
        mut query: Vec<(&str, String)>,
        since_ns: i64,
        page_size: usize,
    ) -> Result<AlertBatch, AcronisError> {
        let path = format!("{AL}/alerts");
        let mut batch = AlertBatch {
            alerts: Vec::new(),
            watermark_ns: since_ns,
            pages: 0,
        };
        loop {
            let page: Page<Alert> = self.json(ApiRequest::get(&path, &query)).await?;
            batch.pages += 1;
            let next = page.next_cursor().map(str::to_string);
            for alert in page.items {
                batch.watermark_ns = batch.watermark_ns.max(alert.updated_ns());
                batch.alerts.push(alert);
            }
            match next {
                Some(cursor) => query = vec![("after", cursor), ("limit", page_size.to_string())],
                None => return Ok(batch),
            }
        }
    }

    /// Alerts by id (dismissed ones included), 100 per request.
    pub async fn alerts_by_ids(&self, ids: &[String]) -> Result<Vec<Alert>, AcronisError> {
        let path = format!("{AL}/alerts");
        let mut alerts = Vec::new();
        for chunk in ids.chunks(100) {
            let mut query: Vec<(&str, String)> =
                chunk.iter().map(|id| ("id", id.clone())).collect();
            query.push(("show_deleted", "true".to_string()));
            query.push(("limit", "100".to_string()));
            let page: Page<Alert> = self.json(ApiRequest::get(&path, &query)).await?;
            alerts.extend(page.items);
        }
        Ok(alerts)
    }

    /// Dismisses an alert (G7).
    pub async fn dismiss_alert(&self, id: &str) -> Result<(), AcronisError> {
        self.send(ApiRequest {
            method: Method::DELETE,
            ..ApiRequest::get(&format!("{AL}/alerts/{id}"), &[])
        })
        .await
        .map(|_| ())
    }
}
